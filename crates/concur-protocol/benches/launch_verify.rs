//! Verifications per second for v1 and v4 launches, next to the bare HMAC on the same message.
//!
//! Run with `cargo bench --bench launch_verify`; the "thrpt" line is verifications per
//! second. The gap between a `verify` row and its `hmac` baseline is the cost of parsing,
//! decoding, base64 and the item URL check.

use std::hint::black_box;
use std::time::Duration;

use concur_protocol::credentials::ConnectorCredentials;
use concur_protocol::launch::{ItemUrlPolicy, verify_v1, verify_v4};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use sha1::Sha1;
use sha2::Sha256;

/// Protocol docs/protocol.md §14.1 and §14.2, byte for byte.
const V1_QUERY: &str = "xcompanydomain=acmecorp.com&xuserid=jane.doe%40acmecorp.com&itemurl=https%3A%2F%2Fwww.concursolutions.com%2Fapi%2Fexpense%2Fexpensereport%2Fv1.1%2Freport%2FnYO0ck05r5fATbnjrMBf0d%24sCIBqX8WQYw%2Fentry%2FnbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U&nonce=5f0c2e9a-7b1d-4c3e-9f6a-2d8b1e4a7c90&signature=b6QVVca2hHc0SkA20ovV1cgu92s%3D";
const V1_MESSAGE: &str = "acmecorp.comjane.doe@acmecorp.comhttps://www.concursolutions.com/api/expense/expensereport/v1.1/report/nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw/entry/nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7UAcmeConnector01S3cr3t-Pa$$w0rd!5f0c2e9a-7b1d-4c3e-9f6a-2d8b1e4a7c90";
const V4_QUERY: &str = "logged_in_user_id=32c2fcc3-b2e8-4907-9672-5b3f49b1c643&report_owner_user_id=32c2fcc3-b2e8-4907-9672-5b3f49b1c643&report_owner_employee_id=E12345&company_domain=acmecorp.com&item_url=https%3A%2F%2Fus2.api.concursolutions.com%2Fexpensereports%2Fv4%2Fusers%2F32c2fcc3-b2e8-4907-9672-5b3f49b1c643%2Fcontext%2FTRAVELER%2Freports%2F764428DD6A664AF0BFCB%2Fexpenses%2F84FCBB92BD4E5342B849DAC29FD163A1&custom_field_launched_from=custom12&source=ENTRY&is_mobile=false&nonce=9b2f6c1e-4d7a-4f3b-8e21-000000000002&client_auth_code=c0ffee00-1234-4abc-8def-0123456789ab&language_code=en-GB&signature=%2F3dc5XTaUg2dbziVVu%2BHnIoYwK%2Bnqd4Bk%2FkyLXOS6bY%3D";
const V4_MESSAGE: &str = "acmecorp.com32c2fcc3-b2e8-4907-9672-5b3f49b1c64332c2fcc3-b2e8-4907-9672-5b3f49b1c643E12345https://us2.api.concursolutions.com/expensereports/v4/users/32c2fcc3-b2e8-4907-9672-5b3f49b1c643/context/TRAVELER/reports/764428DD6A664AF0BFCB/expenses/84FCBB92BD4E5342B849DAC29FD163A1LaunchConnectorUserTr0ub4dor&3-Horse9b2f6c1e-4d7a-4f3b-8e21-000000000002";

fn creds(user: &str, pass: &str) -> ConnectorCredentials {
    ConnectorCredentials::new(user, SecretString::from(pass.to_owned()))
        .expect("the example credentials are valid")
}

fn launch_verify(c: &mut Criterion) {
    let v1_creds = creds("AcmeConnector01", "S3cr3t-Pa$$w0rd!");
    let v4_creds = creds("LaunchConnectorUser", "Tr0ub4dor&3-Horse");
    let hosts = ItemUrlPolicy::concur_only();
    // A wrong signature makes the verifier try every reading before giving up.
    let v4_mismatch = V4_QUERY.replace("%2F3dc5", "%2F3dc6");
    assert!(verify_v4(V4_QUERY, &v4_creds, &hosts).is_ok());
    assert!(verify_v1(V1_QUERY, &v1_creds, &hosts).is_ok());
    assert!(verify_v4(&v4_mismatch, &v4_creds, &hosts).is_err());

    let mut group = c.benchmark_group("launch");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    group.bench_function("v4_verify", |b| {
        b.iter(|| verify_v4(black_box(V4_QUERY), &v4_creds, &hosts))
    });
    group.bench_function("v4_verify_mismatch", |b| {
        b.iter(|| verify_v4(black_box(&v4_mismatch), &v4_creds, &hosts))
    });
    group.bench_function("v4_hmac_sha256_baseline", |b| {
        let key = v4_creds.hmac_key();
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(black_box(&key))
                .expect("hmac accepts keys of any length");
            mac.update(black_box(V4_MESSAGE.as_bytes()));
            mac.finalize().into_bytes()
        })
    });
    group.bench_function("v1_verify", |b| {
        b.iter(|| verify_v1(black_box(V1_QUERY), &v1_creds, &hosts))
    });
    group.bench_function("v1_hmac_sha1_baseline", |b| {
        let key = v1_creds.hmac_key();
        b.iter(|| {
            let mut mac = Hmac::<Sha1>::new_from_slice(black_box(&key))
                .expect("hmac accepts keys of any length");
            mac.update(black_box(V1_MESSAGE.as_bytes()));
            mac.finalize().into_bytes()
        })
    });
    group.finish();
}

criterion_group!(benches, launch_verify);
criterion_main!(benches);
