//! The probes on the real CNN: the rank-one shortcut against dense finite-difference
//! Hessians and finite-difference Hessian-vector products, and the coherence-vs-SNR trend.

use burn::tensor::{Device, Tensor};
use frontier_model::{
    Cnn, CnnConfig, DataConfig, Dataset, DeviceData, Loss, Model, Precision, TrainConfig, pretrain,
    tensor_from, to_f64,
};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::coherence::{CurvatureGram, coherence};
use crate::operator::{FiniteDifferenceHvp, LinearOperator, RankOneOperator};
use crate::report::coherence_report;
use crate::samples::SampleCurvature;

/// A tiny f64 CNN (n = 8, P = 2, d = 6, m = 2) on random inputs, every pre-activation at
/// least `margin` away from a ReLU kink so finite differences see a smooth function.
fn tiny() -> (Cnn, Tensor<3>, Tensor<1>) {
    let (n, p, d, m) = (8, 2, 6, 2);
    let device = Device::flex();
    for seed in 0.. {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut normal = |len: usize| -> Vec<f64> {
            (0..len).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect()
        };
        let (xs, ws) = (normal(n * p * d), normal(2 * m * d));
        let x = tensor_from(&xs, [n, p, d], &device, Precision::F64);
        let w = tensor_from(&ws, [2 * m * d], &device, Precision::F64);
        let mut cnn = CnnConfig {
            m,
            ..CnnConfig::default()
        }
        .init(d, &device, Precision::F64)
        .unwrap();
        cnn.set_params(w);
        let pre = |w: Tensor<2>| to_f64(x.clone().reshape([n * p, d]).matmul(w.transpose()));
        let margin = pre(cnn.w_pos.val())
            .into_iter()
            .chain(pre(cnn.w_neg.val()))
            .fold(f64::INFINITY, |a, b| a.min(b.abs()));
        if margin > 1e-2 {
            let y: Vec<f64> = (0..n)
                .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
                .collect();
            return (cnn, x, tensor_from(&y, [n], &device, Precision::F64));
        }
    }
    unreachable!()
}

/// Per-sample loss gradients ∇_w ℓ_i at `w`: [n][p].
fn sample_loss_grads(
    cnn: &Cnn,
    loss: Loss,
    x: &Tensor<3>,
    y: &Tensor<1>,
    w: &[f64],
) -> Vec<Vec<f64>> {
    let mut model = cnn.clone();
    let device = x.device();
    model.set_params(tensor_from(w, [w.len()], &device, Precision::F64));
    let d1 = to_f64(loss.d1(model.scores(x.clone()), y.clone()));
    let g = to_f64(model.score_grads(x.clone()));
    let p = w.len();
    d1.iter()
        .enumerate()
        .map(|(i, d)| g[i * p..(i + 1) * p].iter().map(|v| d * v).collect())
        .collect()
}

/// Dense per-sample Hessians by central differences of the per-sample loss gradients.
fn dense_hessians(cnn: &Cnn, loss: Loss, x: &Tensor<3>, y: &Tensor<1>) -> Vec<DMatrix<f64>> {
    let w = to_f64(cnn.params());
    let (p, n, h) = (w.len(), y.dims()[0], 1e-5);
    let mut hess = vec![DMatrix::zeros(p, p); n];
    for k in 0..p {
        let (mut plus, mut minus) = (w.clone(), w.clone());
        plus[k] += h;
        minus[k] -= h;
        let (gp, gm) = (
            sample_loss_grads(cnn, loss, x, y, &plus),
            sample_loss_grads(cnn, loss, x, y, &minus),
        );
        for i in 0..n {
            for j in 0..p {
                hess[i][(j, k)] = (gp[i][j] - gm[i][j]) / (2.0 * h);
            }
        }
    }
    hess.into_iter()
        .map(|m| (&m + m.transpose()) * 0.5)
        .collect()
}

fn close(a: f64, b: f64, rel: f64, what: &str) {
    assert!(
        (a - b).abs() <= rel * b.abs().max(1e-300),
        "{what}: rust={a}, reference={b}"
    );
}

#[test]
fn rank_one_coherence_equals_dense_finite_difference_hessians() {
    for loss in [Loss::Logistic, Loss::Squared] {
        let (cnn, x, y) = tiny();
        let n_retain = 5;
        let curvature = SampleCurvature::new(&cnn, loss, x.clone(), y.clone());
        let rank_one = CurvatureGram::from_gram(&curvature.gram, &curvature.c, n_retain).unwrap();
        let dense = CurvatureGram::from_dense(&dense_hessians(&cnn, loss, &x, &y), n_retain);
        for alpha in [0.2, 0.7] {
            let (a, b) = (coherence(&rank_one, alpha), coherence(&dense, alpha));
            for (name, u, v) in [
                ("sigma", a.sigma, b.sigma),
                ("sigma_r", a.sigma_r, b.sigma_r),
                ("sigma_f", a.sigma_f, b.sigma_f),
                ("sigma_rf", a.sigma_rf, b.sigma_rf),
                ("sigma_u", a.sigma_u, b.sigma_u),
                ("sigma_u_signed", a.sigma_u_signed, b.sigma_u_signed),
            ] {
                close(u, v, 1e-6, &format!("{loss:?} α={alpha} {name}"));
            }
        }
    }
}

#[test]
fn finite_difference_hvp_matches_the_rank_one_hessian() {
    let loss = Loss::Logistic;
    let (cnn, x, y) = tiny();
    let n = y.dims()[0];
    let w = to_f64(cnn.params());
    let p = w.len();
    let grad = |w: &[f64]| {
        let per_sample = sample_loss_grads(&cnn, loss, &x, &y, w);
        (0..p)
            .map(|j| per_sample.iter().map(|g| g[j]).sum::<f64>() / n as f64)
            .collect()
    };
    let fd = FiniteDifferenceHvp::new(grad, w).unwrap();
    let g = DMatrix::from_row_slice(n, p, &to_f64(cnn.score_grads(x.clone())));
    let c = to_f64(loss.d2(cnn.scores(x.clone()), y.clone()));
    let exact = RankOneOperator::full(&g, &c).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for _ in 0..3 {
        let v: Vec<f64> = (0..p).map(|_| rng.random::<f64>() - 0.5).collect();
        let (mut a, mut b) = (vec![0.0; p], vec![0.0; p]);
        fd.matvec(&v, &mut a);
        exact.matvec(&v, &mut b);
        let err = a
            .iter()
            .zip(&b)
            .map(|(u, v)| (u - v).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm = b.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(
            err <= 1e-6 * norm,
            "FD HVP: rust error {err}, reference norm {norm}"
        );
    }
}

/// σ of the default CNN (n = 100, d = 500, m = 10, P = 2, logistic, η = 1) at w*.
fn sigma_at(snr: f64, seed: u64) -> f64 {
    let device = Device::flex();
    let data = Dataset::generate(&DataConfig {
        snr,
        seed,
        n_test: 0,
        ..DataConfig::default()
    })
    .unwrap();
    let on_device = DeviceData::new(&data, &device, Precision::F64);
    let mut cnn = CnnConfig {
        seed: seed + 100,
        ..CnnConfig::default()
    }
    .init(500, &device, Precision::F64)
    .unwrap();
    let report = pretrain(&mut cnn, &on_device, &TrainConfig::default()).unwrap();
    assert!(report.converged, "SNR {snr}, seed {seed}: {report:?}");
    coherence_report(
        &cnn,
        Loss::Logistic,
        on_device.x,
        on_device.y,
        &data.forget,
        0.5,
    )
    .unwrap()
    .sigma
}

#[test]
fn coherence_grows_with_snr_on_the_default_cnn() {
    for seed in [0, 1] {
        let (low, high) = (sigma_at(0.05, seed), sigma_at(1.0, seed));
        // NumPy reference: σ ≈ 1.1–1.5 at SNR ≤ 0.1 and ≈ 15–22 at SNR 1.0.
        assert!(
            high > 5.0 * low,
            "seed {seed}: σ(SNR 1.0) = {high}, σ(SNR 0.05) = {low}"
        );
    }
}
