//! Figures 1 and 2: the Hessian test with synthetic per-sample Hessians (SCIENCE.md §4).

use std::path::PathBuf;

use anyhow::Result;
use frontier_stability::sweep::{Cell, Figure1Config, Figure2Config, Heatmap, figure1, figure2};
use serde::Serialize;

use super::render::{plot, write_csv};
use super::{Context, Figure};

/// Figure 1: SGD, B × σ.
pub const FIGURE1: Figure = Figure {
    name: "figure1",
    about: "Hessian test, SGD: fraction of diverging runs over batch size × coherence",
    run: run_figure1,
};

/// Figure 2: unlearning families, B × α and α × alignment.
pub const FIGURE2: Figure = Figure {
    name: "figure2",
    about: "Hessian test, unlearning: B × α per forget family and α × aligned fraction",
    run: run_figure2,
};

/// One CSV row: the panel it belongs to, then every number of the cell.
#[derive(Serialize)]
struct Row<'a> {
    panel: usize,
    #[serde(flatten)]
    cell: &'a Cell,
}

/// Writes the grids of one PNG as `<stem>.png` (panels in `columns` columns) and `<stem>.csv`.
fn write(ctx: &Context, stem: &str, grids: &[Heatmap], columns: usize) -> Result<Vec<PathBuf>> {
    let png = ctx.out.join(format!("{stem}.png"));
    let plots: Vec<_> = grids.iter().map(plot).collect();
    match plots.as_slice() {
        [single] => frontier_plot::render_heatmap(single, &png)?,
        many => frontier_plot::render_panels(many, columns, &png)?,
    }
    let rows = grids
        .iter()
        .enumerate()
        .flat_map(|(panel, g)| g.cells.iter().map(move |cell| Row { panel, cell }));
    let csv = write_csv(&ctx.out.join(format!("{stem}.csv")), rows)?;
    Ok(vec![png, csv])
}

fn run_figure1(ctx: &Context) -> Result<Vec<PathBuf>> {
    let cfg = if ctx.quick {
        Figure1Config::quick()
    } else {
        Figure1Config::default()
    };
    write(ctx, "figure1_sgd_batch_sigma", &[figure1(&cfg)?], 1)
}

fn run_figure2(ctx: &Context) -> Result<Vec<PathBuf>> {
    let cfg = if ctx.quick {
        Figure2Config::quick()
    } else {
        Figure2Config::default()
    };
    let grids = figure2(&cfg)?;
    let mut written = write(ctx, "figure2_unlearning_batch_alpha", &grids.batch_alpha, 4)?;
    written.extend(write(
        ctx,
        "figure2_unlearning_alpha_alignment",
        &grids.alpha_dial,
        2,
    )?);
    Ok(written)
}
