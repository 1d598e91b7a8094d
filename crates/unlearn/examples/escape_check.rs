//! Checks the finite-budget escape rule T̂_esc = L/κ against real unlearning runs of the
//! CNN in the default setting of figure 4: n = 100 (n_f = 10), d = 500, m = 10, P = 2,
//! SNR 0.05, logistic loss, pre-training with η = 1 into the matched-loss band, unlearning
//! with η = 0.5 and B = 5, escape at ‖w − w*‖ > ‖w*‖. Each run may take up to 2000 steps so
//! that its escape step is measured even beyond the figure's budget of 200.
//!
//! For each α it prints the predicted T̂_esc (mean over the 5 seeded setups), the measured
//! escape step (mean over the runs that escaped), κ × measured step (the rule says L), and
//! how many runs escape within 200 steps against how many the rule says will.
//!
//! Arguments (optional): the loss, `logistic` (default) or `squared` (η = 0.02 for pre-training
//! and unlearning, as in the figures), and the SNR (default 0.05).
//!
//! Run: `cargo test --workspace --release --no-run` builds it (with the tests, no second
//! build), then `target/release/examples/escape_check [loss] [snr]` (seconds).

use burn::tensor::Device;
use frontier_model::{CnnConfig, DataConfig, Loss, Precision, TrainConfig};
use frontier_probes::{SampleCurvature, h_alpha_spectrum, retain_first};
use frontier_stability::Settings;
use frontier_unlearn::{BatchRun, EscapeInputs, SetupConfig, UnlearnConfig, seeds, unlearn_many};

const ALPHAS: [f64; 9] = [0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0];
const REPS: usize = 5;
const BUDGET: usize = 200;
const LONG: usize = 2000;
const BATCH: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let loss: Loss = args.get(1).map_or("logistic", String::as_str).parse()?;
    let snr: f64 = args.get(2).map_or(Ok(0.05), |s| s.parse())?;
    // (pre-training η, unlearning η) of the figures.
    let (pretrain_eta, eta) = match loss {
        Loss::Logistic => (1.0, 0.5),
        Loss::Squared => (0.02, 0.02),
    };
    println!(
        "{} loss, SNR {snr}, unlearning η = {eta}, B = {BATCH}",
        loss.name()
    );
    let device = Device::flex();
    let base = SetupConfig {
        data: DataConfig {
            snr,
            ..DataConfig::default()
        },
        model: CnnConfig::default(),
        pretrain: TrainConfig {
            loss,
            eta: pretrain_eta,
            max_steps: 2000,
            ..TrainConfig::default()
        },
        precision: Precision::F32,
    };
    let configs: Vec<_> = (0..REPS).map(|rep| base.seeded(0, rep)).collect();
    let setups = SetupConfig::prepare_many(&configs, &device)?;
    // Per setup: the escape inputs at w* and the curvature Gram for λ_min(H_α).
    let mut inputs = Vec::new();
    let mut curvature = Vec::new();
    for s in &setups {
        println!(
            "setup: pre-training {} steps, training loss {:.4}, forget loss {:.4}, ‖w*‖ {:.3}",
            s.pretrain.steps, s.pretrain.final_loss, s.pretrain.forget_loss, s.start_norm
        );
        inputs.push(EscapeInputs::measure(&s.model, s.loss, &s.data)?);
        let (x, y) = retain_first(s.data.x.clone(), s.data.y.clone(), &s.data.forget);
        curvature.push(SampleCurvature::new(&s.model, s.loss, x, y));
    }
    for (k, i) in inputs.iter().enumerate() {
        println!(
            "setup {k}: mean forget margin {:.3}, RMS ‖∇f_j‖ {:.3}, cos(∇L_R, ∇L_F) {:.3}, \
             α_drift {:.3}",
            i.margins.iter().sum::<f64>() / i.margins.len() as f64,
            i.forget_score_grad_rms(),
            i.grad_cos,
            i.alpha_drift
        );
    }
    let refs: Vec<_> = setups.iter().collect();
    let n_retain = setups[0].data.forget.iter().filter(|&&f| !f).count();
    println!(
        "\n{:>5} {:>9} {:>8} {:>9} {:>9} {:>11} {:>13} {:>13}",
        "α", "T̂_esc", "L", "κ", "measured", "κ×measured", "escape≤200", "predicted≤200"
    );
    for (a, &alpha) in ALPHAS.iter().enumerate() {
        let runs = (0..REPS)
            .map(|rep| BatchRun {
                setup: rep,
                config: UnlearnConfig {
                    step: Settings::new(eta, alpha, BATCH),
                    steps: LONG,
                    record_every: LONG,
                    ..UnlearnConfig::default()
                },
                rng: seeds::stream(0, a as u64, rep as u64),
            })
            .collect();
        let outcomes = unlearn_many(&refs, runs)?;
        let (mut predicted, mut kappas, mut shapes) = (Vec::new(), Vec::new(), Vec::new());
        let (mut measured, mut products) = (Vec::new(), Vec::new());
        let (mut escaped, mut predicted_escape) = (0, 0);
        for rep in 0..REPS {
            let c = &curvature[rep];
            let h_alpha = h_alpha_spectrum(&c.gram, &c.c, n_retain, alpha, c.params)?;
            let radius = setups[rep].start_norm;
            let time = inputs[rep].escape_time(eta, h_alpha.lambda_min(), radius)?;
            predicted.push(time.steps);
            kappas.push(time.kappa);
            shapes.push(time.shape_factor);
            predicted_escape += usize::from(time.within(BUDGET));
            let out = &outcomes[rep];
            if let Some(k) = out.escaped_at.or(out.diverged_at) {
                measured.push(k as f64);
                products.push(k as f64 * time.kappa);
                escaped += usize::from(k <= BUDGET);
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        println!(
            "{alpha:>5.2} {:>9.1} {:>8.3} {:>9.5} {:>9.1} {:>11.3} {:>10}/{REPS} {:>10}/{REPS}",
            mean(&predicted),
            mean(&shapes),
            mean(&kappas),
            mean(&measured),
            mean(&products),
            escaped,
            predicted_escape,
        );
        if measured.len() < REPS {
            println!(
                "      ({} of {REPS} runs did not escape within {LONG} steps)",
                REPS - measured.len()
            );
        }
    }
    Ok(())
}
