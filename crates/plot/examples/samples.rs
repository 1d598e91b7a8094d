//! Renders sample figures: `cargo run -p frontier-plot --example samples [-- OUT_DIR]`
//! (default /tmp/plot-samples). Synthetic data only; it shows what the figures look like.

use std::path::PathBuf;

use frontier_plot::{Axis, Curve, Heatmap, LinePlot, Series, heatmap_png, lines_png, panels_png};

fn figure1() -> Heatmap {
    let b: Vec<f64> = (1..=49).map(f64::from).collect();
    let sigma: Vec<f64> = (1..=50).map(f64::from).collect();
    let values = sigma
        .iter()
        .map(|&s| {
            b.iter()
                .map(|&bb| {
                    if bb == 30.0 && s > 40.0 {
                        return f64::NAN; // a few missing cells
                    }
                    1.0 / (1.0 + ((s - 66.0 / bb) * 1.5).exp())
                })
                .collect()
        })
        .collect();
    let mut h = Heatmap::new(
        "Hessian test, SGD: fraction of runs diverged (n = 100, η = 0.5, 1000 steps, 10 reps)",
        Axis::new("batch size B", b).with_log2(),
        Axis::new("coherence σ", sigma),
        values,
        "fraction diverged",
    );
    h.range = Some((0.0, 1.0));
    h.caption = "agreement with the simulated majority: ρ(T) = 1: 0.982; coherence bound: 0.874; \
                 γ = 0: 0.951; first moment: 0.702"
        .into();
    let boundary = |scale: f64| -> Vec<(f64, f64)> {
        (0..=60)
            .map(|k| 2f64.powf(k as f64 / 10.0))
            .map(|bb| (bb, scale / bb))
            .collect()
    };
    h.curves = vec![
        Curve::new("ρ(T) = 1", boundary(66.0)),
        Curve::new("coherence bound", boundary(14.0)),
        Curve::new("γ = 0", boundary(40.0)),
        Curve::new(
            "first moment",
            vec![
                (1.0, 80.0),
                (10.0, 20.0),
                (f64::NAN, 0.0),
                (20.0, 12.0),
                (60.0, 1.0),
            ],
        ),
    ];
    h
}

fn alpha_panel(title: &str, shift: f64) -> Heatmap {
    let b: Vec<f64> = vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0];
    let alpha: Vec<f64> = (0..=10).map(|k| k as f64 / 10.0).collect();
    let values = alpha
        .iter()
        .map(|&a| {
            b.iter()
                .map(|&bb| (a * 4.0 - 1.0 / bb.sqrt() - shift).tanh() * 0.5 + 0.5)
                .collect()
        })
        .collect();
    let mut h = Heatmap::new(
        title,
        Axis::new("batch size B", b).with_log2(),
        Axis::new("forget weight α", alpha),
        values,
        "unlearning success rate",
    );
    h.caption = "predicted boundary agreement: 0.93".into();
    h.curves = vec![Curve::new(
        "predicted boundary",
        (0..=50)
            .map(|k| {
                let bb = 2f64.powf(k as f64 / 10.0);
                (bb, (1.0 / bb.sqrt() + shift) / 4.0)
            })
            .collect(),
    )];
    h
}

fn figure3() -> LinePlot {
    let snr = vec![0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
    let names = ["σ", "σ_R", "σ_F", "σ_RF", "σ_U"];
    let series = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mean: Vec<f64> = snr
                .iter()
                .map(|s| (i as f64 + 1.0) * 8.0 / (1.0 + s))
                .collect();
            let sd = mean.iter().map(|m| m * 0.15).collect();
            Series::new(*name, snr.clone(), mean, sd)
        })
        .collect();
    LinePlot {
        title: "CNN: coherence versus SNR (mean ± sd over 5 seeds, n = 200)".into(),
        caption:
            "σ over the whole training set; σ_R, σ_F over retain and forget sets; σ_RF between them"
                .into(),
        x: Axis::new("signal-to-noise ratio ‖μ‖/σ_noise", snr).with_log2(),
        y_label: "coherence (dimensionless)".into(),
        log_y: true,
        series,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/tmp/plot-samples".into()),
    );
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("heatmap.png"), heatmap_png(&figure1())?)?;
    std::fs::write(dir.join("lines.png"), lines_png(&figure3())?)?;
    let panels = [
        alpha_panel("logistic loss: success, B × α", 0.3),
        alpha_panel("squared loss: success, B × α", 0.9),
    ];
    std::fs::write(dir.join("panels.png"), panels_png(&panels, 2)?)?;
    println!(
        "wrote heatmap.png, lines.png, panels.png to {}",
        dir.display()
    );
    Ok(())
}
