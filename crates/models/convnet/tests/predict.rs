//! Predictions for the convnet through its Gauss–Newton curvature: the unlearning grids'
//! stability engine takes rank-one families, so `GaussNewton(convnet)` gives ρ(T), growth within K
//! and the first-moment verdict for a model whose exact Hessians are not rank one.

use std::path::Path;

use burn::tensor::Device;
use frontier_convnet::ConvnetConfig;
use frontier_model::{
    DataSource, DeviceData, FileData, ForgetConfig, GaussNewton, Loss, Precision, TrainConfig,
    pretrain,
};
use frontier_probes::coherence_report;
use frontier_stability::Settings;
use frontier_unlearn::predict::Query;
use frontier_unlearn::{HessianMethod, Linearised, PredictConfig};

#[test]
fn gauss_newton_curvature_feeds_the_stability_engine() {
    let device = Device::flex();
    let precision = Precision::F64;
    // 10 % of the digits' 3s and 8s for training (36 samples, 4 forgotten).
    let source = DataSource::File(FileData {
        path: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../assets/data/digits.safetensors"),
        binary: Some("3-vs-8".parse().unwrap()),
        test_fraction: 0.9,
        forget: ForgetConfig {
            count: Some(4),
            ..ForgetConfig::default()
        },
        ..FileData::default()
    });
    let spec = ConvnetConfig {
        conv1: 4,
        conv2: 8,
        ..ConvnetConfig::default()
    };
    let train = TrainConfig {
        eta: 0.5,
        max_steps: 300,
        ..TrainConfig::default()
    };
    let prepared = source.prepare(&spec, &train, &device, precision).unwrap();
    let mut net = prepared.init(&spec, &device, precision).unwrap();
    let data = DeviceData::new(&prepared.data, &device, precision);
    pretrain(&mut net, &data, &train).unwrap();
    // The exact curvature of p = 465 parameters has no predictions; its Gauss–Newton part does.
    assert!(HessianMethod::choose(&net).is_err());
    let gn = GaussNewton(net);
    assert_eq!(HessianMethod::choose(&gn), Ok(HessianMethod::RankOne));
    let linear = Linearised::at(&gn, Loss::Logistic, &data, HessianMethod::RankOne).unwrap();
    let alpha = 0.5;
    let prediction = linear
        .predict(
            &Query {
                settings: Settings::new(0.5, alpha, 2),
                budget: 200,
                radius: 1.0,
                growth_seed: 1,
                cell: 0,
                asymptotic_seed: None,
            },
            &PredictConfig::default(),
        )
        .unwrap();
    assert!(
        prediction.rho.is_finite() && prediction.rho >= 1.0,
        "{prediction:?}"
    );
    // Its λ(H_α) is the Gram shortcut's.
    let report = coherence_report(
        &gn,
        Loss::Logistic,
        data.x.clone(),
        data.y.clone(),
        &data.forget,
        alpha,
    )
    .unwrap();
    for (name, engine, shortcut) in [
        (
            "lambda_min_h_alpha",
            prediction.lambda_min_h_alpha,
            report.lambda_min_h_alpha,
        ),
        (
            "lambda_max_h_alpha",
            prediction.lambda_max_h_alpha,
            report.lambda_max_h_alpha,
        ),
    ] {
        let scale = report.lambda_max_h.abs();
        assert!(
            (engine - shortcut).abs() <= 1e-8 * scale,
            "{name}: stability engine rust={engine}, Gram shortcut reference={shortcut}"
        );
    }
}
