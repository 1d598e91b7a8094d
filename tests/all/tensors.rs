//! The strict safetensors readers through every command that reads a file: unknown tensor
//! names, mixed F32/F64, and headers that lie about the data are exit-2 errors that name the
//! tensor or the file once.

use std::path::Path;

use safetensors::Dtype;
use safetensors::tensor::TensorView;

use crate::cli::{fails_with, reference, stability_args, text, write_tensors};

/// Writes (name, dtype, shape, values) with each tensor in its own dtype.
fn write_mixed(path: &Path, tensors: &[(&str, Dtype, Vec<usize>, Vec<f64>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, dtype, _, v)| match dtype {
            Dtype::F32 => v.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect(),
            _ => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        })
        .collect();
    let views: Vec<_> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, d, s, _), b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn coherence(data: &Path, weights: &Path) -> Vec<String> {
    [
        "coherence",
        "--data",
        data.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

fn refused(args: &[String], needles: &[&str]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails_with(&args, needles);
    text(&crate::cli::frontier(&args))
}

#[test]
fn an_unknown_tensor_in_a_hessians_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.safetensors");
    write_tensors(
        &path,
        &[
            ("retain_g", vec![2, 2], vec![1.0, 0.0, 0.0, 1.0]),
            ("retain_c", vec![2], vec![1.0, 1.0]),
            ("forget_G", vec![1, 2], vec![1.0, 1.0]),
        ],
    );
    let message = refused(
        &stability_args(&path),
        &["tensor `forget_G`", "h.safetensors"],
    );
    assert_eq!(
        message.matches("forget_G").count(),
        1,
        "said once: {message}"
    );
}

#[test]
fn mixed_f32_and_f64_are_refused_naming_one_of_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.safetensors");
    write_mixed(
        &path,
        &[
            ("retain_g", Dtype::F64, vec![2, 2], vec![1.0, 0.0, 0.0, 1.0]),
            ("retain_c", Dtype::F32, vec![2], vec![1.0, 1.0]),
        ],
    );
    refused(
        &stability_args(&path),
        &[
            "mixes F32 and F64",
            "`retain_c` is F32",
            "`retain_g` is F64",
        ],
    );
}

#[test]
fn a_header_that_lies_about_the_data_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(reference("cnn_data.safetensors")).unwrap();
    // A tensor of 12 elements claims 13 (the header keeps its length).
    let at = good.windows(4).position(|w| w == b"[12]").unwrap();
    let mut lying = good.clone();
    lying[at + 2] = b'3';
    let path = dir.path().join("lying.safetensors");
    std::fs::write(&path, lying).unwrap();
    refused(
        &coherence(&path, &reference("cnn_weights.safetensors")),
        &["lying.safetensors", "header does not match its data"],
    );
}

#[test]
fn an_unknown_tensor_in_a_weights_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let (m, d) = (3, 8);
    write_tensors(
        &path,
        &[
            ("w_pos", vec![m, d], vec![0.1; m * d]),
            ("w_neg", vec![m, d], vec![0.2; m * d]),
            ("bias", vec![1], vec![0.0]),
        ],
    );
    refused(
        &coherence(&reference("cnn_data.safetensors"), &path),
        &["tensor `bias`", "known: w_pos, w_neg"],
    );
}
