//! The `concur-sim` binary refuses a bad command line or environment with exit status 2.

use std::process::{Command, Output};

use crate::{CONNECTOR_PASSWORD, CONNECTOR_USER};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_concur-sim"));
    command
        .args(args)
        .env_remove("CONCUR_SIM_CONNECTOR_USER")
        .env_remove("CONCUR_SIM_CONNECTOR_PASSWORD")
        .envs(env.iter().copied());
    command.output().expect("concur-sim runs")
}

const CREDENTIALS: [(&str, &str); 2] = [
    ("CONCUR_SIM_CONNECTOR_USER", CONNECTOR_USER),
    ("CONCUR_SIM_CONNECTOR_PASSWORD", CONNECTOR_PASSWORD),
];

#[test]
fn a_public_bind_address_is_refused() {
    let out = run(&["--bind", "0.0.0.0:9443"], &CREDENTIALS);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

#[test]
fn missing_credentials_are_named() {
    let out = run(&["--bind", "127.0.0.1:0"], &CREDENTIALS[..1]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CONCUR_SIM_CONNECTOR_PASSWORD is not set"),
        "{stderr}"
    );
    assert!(!stderr.contains(CONNECTOR_PASSWORD), "{stderr}");
}

#[test]
fn an_unknown_argument_is_refused() {
    let out = run(&["--frobnicate"], &CREDENTIALS);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown argument `--frobnicate`"),
        "{stderr}"
    );
}
