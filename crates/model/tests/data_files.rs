//! Data files: the shipped digits, the binary mappings, the seeded split, the four forget
//! kinds and the file's own mask, and the errors a broken file gives.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use frontier_model::file_data::FileContents;
use frontier_model::{
    Binary, CnnConfig, DataSource, FileData, ForgetConfig, ForgetKind, Precision, Prepared,
    TensorFile, TrainConfig,
};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/data/digits.safetensors")
}

/// The digits as a file source with `binary` and `forget`, seed 0, 20 % held out.
fn source(binary: &str, forget: ForgetConfig) -> DataSource {
    DataSource::File(FileData {
        path: digits(),
        binary: Some(binary.parse().unwrap()),
        forget,
        ..FileData::default()
    })
}

/// Prepares `source` (the model and training only matter to the atypical kind).
fn prepare(source: &DataSource, train: &TrainConfig) -> frontier_model::Result<Prepared> {
    let cnn = CnnConfig {
        m: 4,
        ..CnnConfig::default()
    };
    source.prepare(&cnn, train, &Device::flex(), Precision::F64)
}

/// The ±1 label of digit `c` under odd-even.
fn odd(c: u32) -> f64 {
    if c % 2 == 1 { 1.0 } else { -1.0 }
}

#[test]
fn the_shipped_digits_load_with_their_shape_dtype_and_class_counts() {
    let file = TensorFile::open(&digits()).unwrap();
    assert_eq!(file.names(), ["x", "y"]);
    assert_eq!(file.shape("x").unwrap(), [1797, 1, 8, 8]);
    assert_eq!(file.metadata("license"), Some("CC BY 4.0"));
    let bytes = std::fs::read(digits()).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("x").unwrap().dtype(), Dtype::F32);
    assert_eq!(st.tensor("y").unwrap().dtype(), Dtype::U8);
    let x = file.get("x", 4).unwrap();
    assert!(x.values.iter().all(|v| (0.0..=1.0).contains(v)));
    // 16 grey levels: every value is a multiple of 1/16.
    assert!(x.values.iter().all(|v| (v * 16.0).fract() == 0.0));
    let contents = FileContents::read(&file, Some(Binary::OddEven)).unwrap();
    assert_eq!(
        (contents.patches, contents.d, contents.image),
        (1, 64, Some([1, 8, 8]))
    );
    let classes = contents.train.classes.unwrap();
    let counts: Vec<usize> = (0..10)
        .map(|c| classes.iter().filter(|&&k| k == c).count())
        .collect();
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    let positive = contents.train.y.iter().filter(|&&y| y > 0.0).count();
    assert_eq!(positive, 182 + 183 + 182 + 179 + 180, "odd digits are +1");
}

#[test]
fn a_vs_b_keeps_two_classes_and_the_split_is_seeded() {
    let p = prepare(
        &source("3-vs-8", ForgetConfig::default()),
        &TrainConfig::default(),
    )
    .unwrap();
    let classes = p.classes.as_ref().unwrap();
    let n_all = 183 + 174;
    assert_eq!(p.data.n() + p.data.n_test(), n_all);
    assert_eq!(p.data.n_test(), (0.2 * n_all as f64).round() as usize);
    for (i, &c) in classes.iter().enumerate() {
        assert!(c == 3 || c == 8);
        assert_eq!(p.data.y[i], if c == 3 { 1.0 } else { -1.0 });
    }
    assert_eq!(p.forget.kind, ForgetKind::Random);
    assert_eq!(
        p.forget.indices.len(),
        (0.1 * p.data.n() as f64).round() as usize
    );
    let again = prepare(
        &source("3-vs-8", ForgetConfig::default()),
        &TrainConfig::default(),
    )
    .unwrap();
    assert_eq!(again, p);
    let other = DataSource::File(FileData {
        seed: 1,
        path: digits(),
        binary: Some(Binary::Pair(3, 8)),
        ..FileData::default()
    });
    let other = prepare(&other, &TrainConfig::default()).unwrap();
    assert_ne!(other.data.y_test, p.data.y_test);
}

#[test]
fn mislabelled_forget_samples_have_flipped_labels_and_only_they() {
    let cfg = ForgetConfig {
        kind: Some(ForgetKind::Mislabelled),
        count: Some(30),
        ..ForgetConfig::default()
    };
    let p = prepare(&source("odd-even", cfg), &TrainConfig::default()).unwrap();
    let classes = p.classes.as_ref().unwrap();
    assert_eq!(p.forget.indices.len(), 30);
    for (i, &c) in classes.iter().enumerate() {
        let flipped = p.data.forget[i];
        assert_eq!(
            p.data.y[i],
            if flipped { -odd(c) } else { odd(c) },
            "sample {i}"
        );
    }
}

#[test]
fn sub_class_forgets_every_training_image_of_its_digit() {
    let cfg = ForgetConfig {
        kind: Some(ForgetKind::SubClass),
        class: Some(7),
        ..ForgetConfig::default()
    };
    let p = prepare(&source("odd-even", cfg), &TrainConfig::default()).unwrap();
    let classes = p.classes.as_ref().unwrap();
    for (i, &c) in classes.iter().enumerate() {
        assert_eq!(p.data.forget[i], c == 7);
    }
    assert_eq!(p.forget.class, Some(7));
    assert!(p.forget.indices.len() > 100);
}

#[test]
fn atypical_forgets_the_largest_held_out_losses() {
    let cfg = ForgetConfig {
        kind: Some(ForgetKind::Atypical),
        count: Some(20),
        folds: 3,
        ..ForgetConfig::default()
    };
    let train = TrainConfig {
        max_steps: 30,
        eta: 0.5,
        ..TrainConfig::default()
    };
    let p = prepare(&source("3-vs-8", cfg.clone()), &train).unwrap();
    let losses = p.forget.held_out_loss.as_ref().unwrap();
    assert_eq!(losses.len(), p.data.n());
    let threshold = p
        .forget
        .indices
        .iter()
        .map(|&i| losses[i])
        .fold(f64::MAX, f64::min);
    let outside = (0..p.data.n())
        .filter(|&i| !p.data.forget[i])
        .map(|i| losses[i])
        .fold(f64::MIN, f64::max);
    assert!(
        threshold >= outside,
        "smallest chosen loss {threshold} < largest other {outside}"
    );
    // Held-out models learned something: typical samples score well below chance.
    let mut sorted = losses.clone();
    sorted.sort_by(f64::total_cmp);
    assert!(
        sorted[sorted.len() / 2] < 2f64.ln(),
        "median held-out loss {}",
        sorted[sorted.len() / 2]
    );
    assert_eq!(
        prepare(&source("3-vs-8", cfg), &train).unwrap().forget,
        p.forget
    );
}

/// Writes a safetensors file of f64 tensors (or U8 where the name ends in `!`).
fn write(dir: &Path, name: &str, tensors: &[(&str, Vec<usize>, Vec<f64>)]) -> PathBuf {
    let bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| match n.strip_suffix('!') {
            Some(n) => (
                n.to_string(),
                Dtype::U8,
                s.clone(),
                v.iter().map(|&x| x as u8).collect(),
            ),
            None => (
                n.to_string(),
                Dtype::F64,
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    path
}

/// A scratch folder for this test binary.
fn scratch(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("frontier-data-files-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_file_mask_and_test_set_are_used_as_given() {
    let dir = scratch("mask");
    let n = 10;
    let x: Vec<f64> = (0..n * 2 * 3).map(|i| i as f64 * 0.1).collect();
    let y: Vec<f64> = (0..n)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let mask: Vec<f64> = (0..n).map(|i| (i < 3) as u8 as f64).collect();
    let path = write(
        &dir,
        "m.safetensors",
        &[
            ("x", vec![n, 2, 3], x.clone()),
            ("y", vec![n], y.clone()),
            ("forget!", vec![n], mask),
            ("x_test", vec![2, 2, 3], x[..12].to_vec()),
            ("y_test", vec![2], vec![1.0, -1.0]),
        ],
    );
    let p = prepare(
        &DataSource::File(FileData {
            path,
            ..FileData::default()
        }),
        &TrainConfig::default(),
    )
    .unwrap();
    assert_eq!(p.forget.kind, ForgetKind::Mask);
    assert_eq!(p.forget.indices, [0, 1, 2]);
    assert_eq!(
        (p.data.n(), p.data.n_test(), p.data.patches, p.data.d),
        (10, 2, 2, 3)
    );
    assert_eq!(p.data.x, x);
    assert_eq!(p.image, None);
}

/// A broken file: its tensors, the binary mapping and forget kind asked for, and the words
/// its error must contain.
type Case = (
    Vec<(&'static str, Vec<usize>, Vec<f64>)>,
    Option<&'static str>,
    Option<ForgetKind>,
    Vec<&'static str>,
);

/// Every way a file can be wrong names the file, the tensor or the config key.
#[test]
fn broken_files_name_the_culprit() {
    let dir = scratch("broken");
    let n = 6;
    let x = |shape: Vec<usize>| -> (&'static str, Vec<usize>, Vec<f64>) {
        let len = shape.iter().product();
        ("x", shape, vec![0.5; len])
    };
    let pm: Vec<f64> = (0..n)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let classes: Vec<f64> = (0..n).map(|i| (i % 3) as f64).collect();
    let cases: Vec<Case> = vec![
        (
            vec![x(vec![n, 4]), ("y", vec![n], pm.clone())],
            None,
            None,
            vec![
                "tensor `x`",
                "[6, 4]",
                "images [n, C, H, W] or patches [n, P, d]",
            ],
        ),
        (
            vec![x(vec![n, 1, 4]), ("y", vec![n + 1], vec![1.0; n + 1])],
            None,
            None,
            vec!["tensor `y`", "[7]", "expected [6]"],
        ),
        (
            vec![x(vec![n, 1, 4]), ("y", vec![n], classes.clone())],
            None,
            None,
            vec!["tensor `y`", "class ids", "--binary"],
        ),
        (
            vec![x(vec![n, 1, 4]), ("y", vec![n], pm.clone())],
            Some("odd-even"),
            None,
            vec!["tensor `y`", "−1/+1 labels already"],
        ),
        (
            vec![x(vec![n, 1, 4]), ("y", vec![n], classes.clone())],
            Some("1-vs-7"),
            None,
            vec!["tensor `y`", "no sample of class 7"],
        ),
        (
            vec![
                x(vec![n, 1, 4]),
                ("y", vec![n], pm.clone()),
                ("forget", vec![n], vec![1.0; n]),
            ],
            None,
            Some(ForgetKind::Random),
            vec!["tensor `forget`", "drop one"],
        ),
        (
            vec![
                x(vec![n, 1, 4]),
                ("y", vec![n], pm.clone()),
                ("y_test", vec![2], vec![1.0, 1.0]),
            ],
            None,
            None,
            vec!["tensor `x_test`", "is missing"],
        ),
        (
            vec![
                x(vec![n, 1, 4]),
                ("y", vec![n], pm.clone()),
                ("forget_G", vec![n], vec![0.0; n]),
            ],
            None,
            None,
            vec!["tensor `forget_G`", "known: x, y, forget, x_test, y_test"],
        ),
        (
            vec![x(vec![n, 1, 4]), ("y", vec![n], pm.clone())],
            None,
            Some(ForgetKind::SubClass),
            vec!["data.forget.class"],
        ),
        (
            vec![x(vec![n, 1, 4]), ("y", vec![n], pm.clone())],
            None,
            Some(ForgetKind::Mask),
            vec!["tensor `forget`", "is missing"],
        ),
    ];
    for (k, (tensors, binary, kind, needles)) in cases.into_iter().enumerate() {
        let path = write(&dir, &format!("b{k}.safetensors"), &tensors);
        let by_count = !matches!(kind, Some(ForgetKind::SubClass | ForgetKind::Mask));
        let source = DataSource::File(FileData {
            path,
            binary: binary.map(|b| b.parse().unwrap()),
            test_fraction: 0.0,
            forget: ForgetConfig {
                kind,
                count: by_count.then_some(1),
                ..ForgetConfig::default()
            },
            ..FileData::default()
        });
        let err = prepare(&source, &TrainConfig::default())
            .unwrap_err()
            .to_string();
        for needle in needles {
            assert!(err.contains(needle), "case {k}: `{needle}` not in: {err}");
        }
    }
    // Labels are read whatever their integer dtype.
    let path = write(
        &dir,
        "u8.safetensors",
        &[x(vec![n, 1, 4]), ("y!", vec![n], classes)],
    );
    let file = TensorFile::open(&path).unwrap();
    let contents = FileContents::read(&file, Some(Binary::OddEven)).unwrap();
    assert_eq!(contents.train.classes, Some(vec![0, 1, 2, 0, 1, 2]));
}
