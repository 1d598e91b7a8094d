//! `frontier heatmap --quick` for the figures outside the CNN grids: the Hessian tests
//! (figures 1–2) and the MLP-vs-CNN coherence (figure 7).

use crate::cli::ok;

#[test]
fn quick_hessian_and_model_figures_write_pngs_and_csvs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    ok(&[
        "heatmap", "--quick", "--out", out, "--only", "figure1", "--only", "figure2", "--only",
        "figure7",
    ]);
    for (stem, header_starts) in [
        ("figure1_sgd_batch_sigma", "panel,x,y,diverged_fraction"),
        (
            "figure2_unlearning_batch_alpha",
            "panel,x,y,diverged_fraction",
        ),
        (
            "figure2_unlearning_alpha_alignment",
            "panel,x,y,diverged_fraction",
        ),
        ("figure7_mlp_vs_cnn_coherence", "model,snr,seed,sigma"),
    ] {
        crate::cli::assert_png_drawn(&dir.path().join(format!("{stem}.png")));
        let csv = std::fs::read_to_string(dir.path().join(format!("{stem}.csv"))).unwrap();
        assert!(
            csv.starts_with(header_starts),
            "{stem}.csv header: {}",
            csv.lines().next().unwrap()
        );
        assert!(csv.lines().count() > 2, "{stem}.csv has rows");
    }
    // Figure 1 quick grid: 6 batch sizes × 6 coherences.
    let rows = std::fs::read_to_string(dir.path().join("figure1_sgd_batch_sigma.csv")).unwrap();
    assert_eq!(rows.lines().count(), 1 + 36);
}

#[test]
fn an_unknown_figure_name_lists_the_known_ones() {
    crate::cli::fails_with(
        &["heatmap", "--only", "figure9", "--quick"],
        &["figure9", "figure1", "figure7"],
    );
}
