use burn::tensor::Device;
use frontier_model::{CnnConfig, DataConfig, Loss, Precision, TrainConfig};
use frontier_stability::Settings;
use frontier_unlearn::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let loss: Loss = args[1].parse().unwrap();
    let snr: f64 = args[2].parse().unwrap();
    let eta_pre: f64 = args[3].parse().unwrap();
    let eta: f64 = args[4].parse().unwrap();
    let tol: f64 = args.get(5).map(|s| s.parse().unwrap()).unwrap_or(0.01);
    let device = Device::flex();
    let cfg = SetupConfig {
        data: DataConfig {
            n: 100,
            n_test: 200,
            d: 500,
            n_forget: 10,
            snr,
            ..DataConfig::default()
        },
        model: CnnConfig::default(),
        pretrain: TrainConfig {
            loss,
            eta: eta_pre,
            max_steps: 2000,
            loss_tol: tol,
        },
        precision: Precision::F32,
    }
    .seeded(0, 0);
    let t = Instant::now();
    let s = cfg.prepare(&device).unwrap();
    println!(
        "prepare {:.2}s pretrain {:?}\nretrain {:?}\nstart {:?}\nretrained {:?}\n|w*|={}",
        t.elapsed().as_secs_f64(),
        s.pretrain,
        s.reference.report,
        s.start,
        s.retrained,
        s.start_norm
    );
    let t = Instant::now();
    let lin = Linearised::at(&s.model, s.loss, &s.data).unwrap();
    println!(
        "linearise {:.2}s resid {}",
        t.elapsed().as_secs_f64(),
        lin.residual_grad_norm
    );
    for &b in &[1usize, 5, 10] {
        for &a in &[0.0, 0.1, 0.3, 0.6, 1.0] {
            let ucfg = UnlearnConfig {
                step: Settings::new(eta, a, b),
                ..UnlearnConfig::default()
            };
            let t = Instant::now();
            let out = unlearn(&s, &ucfg, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
            let tr = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let p = lin
                .predict(ucfg.step, &PredictConfig::default(), 0, 0)
                .unwrap();
            let tp = t.elapsed().as_secs_f64();
            println!(
                "B={b:2} a={a:.1}: {:<22} run {tr:.2}s pred {tp:.2}s | fl {:.3e} rl {:.3e} racc {:.2} tacc {:.2} d/w* {:.2} mia {:.2} | {:?} | rho {:.4} conv {} gam {:.4} lmin {:.2e} lmax {:.2e} sU {:.1} crit {:.2} | ms {} ly {} fm {} pb {}",
                out.describe(),
                out.last.forget_loss,
                out.last.retain_loss,
                out.last.retain_accuracy,
                out.last.test_accuracy,
                out.last.distance / s.start_norm,
                out.last.mia_auc,
                out.success,
                p.rho,
                p.rho_converged,
                p.gamma,
                p.lambda_min_h_alpha,
                p.lambda_max_h_alpha,
                p.sigma_u,
                p.pair_critical,
                p.mean_square,
                p.lyapunov,
                p.first_moment,
                p.pair_bound
            );
        }
    }
}
