//! The worked examples of docs/protocol.md §14, copied byte for byte, shared by this module's tests.

use secrecy::SecretString;

use super::sign::{V1Launch, V4Launch};
use super::{Product, Source};
use crate::credentials::ConnectorCredentials;

/// docs/protocol.md §14.1 credentials.
pub const EX1_USER: &str = "AcmeConnector01";
pub const EX1_PASS: &str = "S3cr3t-Pa$$w0rd!";
pub const EX1_ITEM_URL: &str = "https://www.concursolutions.com/api/expense/expensereport/v1.1/report/nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw/entry/nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U";
pub const EX1_NONCE: &str = "5f0c2e9a-7b1d-4c3e-9f6a-2d8b1e4a7c90";
pub const EX1_SIGNATURE: &str = "b6QVVca2hHc0SkA20ovV1cgu92s=";
pub const EX1_URL: &str = "https://connector.example.com/concur/form/v1.0/get?xcompanydomain=acmecorp.com&xuserid=jane.doe%40acmecorp.com&itemurl=https%3A%2F%2Fwww.concursolutions.com%2Fapi%2Fexpense%2Fexpensereport%2Fv1.1%2Freport%2FnYO0ck05r5fATbnjrMBf0d%24sCIBqX8WQYw%2Fentry%2FnbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U&nonce=5f0c2e9a-7b1d-4c3e-9f6a-2d8b1e4a7c90&signature=b6QVVca2hHc0SkA20ovV1cgu92s%3D";
/// docs/protocol.md §14.1 diagnostics: user name lower-cased in the message; key from the exact-case name.
pub const EX1_SIG_USERNAME_LOWERED: &str = "71kJc9CuGEIz4hV+wBbD0bOAc14=";
pub const EX1_SIG_KEY_EXACT_CASE: &str = "4fE5uQJQhVoosxsVxK1aulFx2iI=";

/// docs/protocol.md §14.2 and §14.3 credentials.
pub const EX2_USER: &str = "LaunchConnectorUser";
pub const EX2_PASS: &str = "Tr0ub4dor&3-Horse";
pub const EX2_USER_ID: &str = "32c2fcc3-b2e8-4907-9672-5b3f49b1c643";
pub const EX2_ITEM_URL: &str = "https://us2.api.concursolutions.com/expensereports/v4/users/32c2fcc3-b2e8-4907-9672-5b3f49b1c643/context/TRAVELER/reports/764428DD6A664AF0BFCB/expenses/84FCBB92BD4E5342B849DAC29FD163A1";
/// The item URL as it travels once RFC 3986-encoded (what docs/protocol.md §14.4(g) signs).
pub const EX2_ITEM_URL_ENCODED: &str = "https%3A%2F%2Fus2.api.concursolutions.com%2Fexpensereports%2Fv4%2Fusers%2F32c2fcc3-b2e8-4907-9672-5b3f49b1c643%2Fcontext%2FTRAVELER%2Freports%2F764428DD6A664AF0BFCB%2Fexpenses%2F84FCBB92BD4E5342B849DAC29FD163A1";
pub const EX2_NONCE: &str = "9b2f6c1e-4d7a-4f3b-8e21-000000000002";
pub const EX2_AUTH_CODE: &str = "c0ffee00-1234-4abc-8def-0123456789ab";
pub const EX2_SIGNATURE: &str = "/3dc5XTaUg2dbziVVu+HnIoYwK+nqd4Bk/kyLXOS6bY=";
pub const EX2_URL: &str = "https://connector.example.com/launchexternalurl/v4/form?logged_in_user_id=32c2fcc3-b2e8-4907-9672-5b3f49b1c643&report_owner_user_id=32c2fcc3-b2e8-4907-9672-5b3f49b1c643&report_owner_employee_id=E12345&company_domain=acmecorp.com&item_url=https%3A%2F%2Fus2.api.concursolutions.com%2Fexpensereports%2Fv4%2Fusers%2F32c2fcc3-b2e8-4907-9672-5b3f49b1c643%2Fcontext%2FTRAVELER%2Freports%2F764428DD6A664AF0BFCB%2Fexpenses%2F84FCBB92BD4E5342B849DAC29FD163A1&custom_field_launched_from=custom12&source=ENTRY&is_mobile=false&nonce=9b2f6c1e-4d7a-4f3b-8e21-000000000002&client_auth_code=c0ffee00-1234-4abc-8def-0123456789ab&language_code=en-GB&signature=%2F3dc5XTaUg2dbziVVu%2BHnIoYwK%2Bnqd4Bk%2FkyLXOS6bY%3D";

/// docs/protocol.md §14.4, the wrong readings of example 2.
pub const EX2_SIG_B_USERNAME_LOWERED: &str = "U6oH8y9HQE3xG40GQDSGbgdgnrRDtlu9iNZqaU1gPQA=";
pub const EX2_SIG_C_KEY_EXACT_CASE: &str = "pC5AYKTQTGxAmjnI1wO+QWd9JmNjVv//XHPfdhyI9v0=";
pub const EX2_SIG_D_SHA1: &str = "om3iXAeRsJKHidMhaBHQVstFHws=";
pub const EX2_SIG_E_HEX: &str = "ff775ce574da520d9d6f389556ef879c8a18c0afa7a9de0193f9322d7392e9b6";
pub const EX2_SIG_F_URL_SAFE: &str = "_3dc5XTaUg2dbziVVu-HnIoYwK-nqd4Bk_kyLXOS6bY=";
pub const EX2_SIG_G_ITEM_URL_ENCODED: &str = "jXZGPJ7FBGMbUeW+e0tpsEAlbUulm6VdaxuMiMq9BrM=";

pub const EX3_DELEGATE_ID: &str = "a1b2c3d4-0000-4000-8000-000000000abc";
pub const EX3_EMPLOYEE_ID: &str = "EMP 00+7&X";
pub const EX3_ITEM_URL: &str = "https://us2.api.concursolutions.com/expensereports/v4/users/32c2fcc3-b2e8-4907-9672-5b3f49b1c643/context/PROXY/reports/764428DD6A664AF0BFCB/allocations/3BBB494511E1C74DA04469C45B039871";
pub const EX3_NONCE: &str = "d3f1a7b2-5c4e-4b8a-9e6f-1a2b3c4d5e6f";
pub const EX3_AUTH_CODE: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
pub const EX3_SIGNATURE: &str = "NVsEBGn5rYmkljmZ7n1UhPCQ1BSbz8/GD9M9pAuFzVc=";
pub const EX3_URL: &str = "https://connector.example.com/launchexternalurl/v4/form?logged_in_user_id=a1b2c3d4-0000-4000-8000-000000000abc&report_owner_user_id=32c2fcc3-b2e8-4907-9672-5b3f49b1c643&report_owner_employee_id=EMP%2000%2B7%26X&company_domain=acmecorp.com&item_url=https%3A%2F%2Fus2.api.concursolutions.com%2Fexpensereports%2Fv4%2Fusers%2F32c2fcc3-b2e8-4907-9672-5b3f49b1c643%2Fcontext%2FPROXY%2Freports%2F764428DD6A664AF0BFCB%2Fallocations%2F3BBB494511E1C74DA04469C45B039871&custom_field_launched_from=custom9&expense_ids=29EE3C62F5D844458828A5C1086072D1%2C84FCBB92BD4E5342B849DAC29FD163A1&source=ALLOCATION&is_mobile=true&nonce=d3f1a7b2-5c4e-4b8a-9e6f-1a2b3c4d5e6f&client_auth_code=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d&language_code=de&signature=NVsEBGn5rYmkljmZ7n1UhPCQ1BSbz8%2FGD9M9pAuFzVc%3D";
pub const EX3_EMPLOYEE_ID_RFC3986: &str = "EMP%2000%2B7%26X";
pub const EX3_EMPLOYEE_ID_FORM: &str = "EMP+00%2B7%26X";
/// docs/protocol.md §14.3: the MAC over `EMP 00 7&X`, what a signer that decoded `+` as space produces.
pub const EX3_SIG_PLUS_AS_SPACE: &str = "SnJfytyysqzemO1cXp2EZYsSDQbaioZ+B34nh3Oz69M=";

/// docs/protocol.md §14.5: a Concur Request header launch in the parameter order of
/// Concur's Request example URL, with its misspelt `repquest_owner_employee_id`.
pub const EX4_ITEM_URL: &str = "https://us2.api.concursolutions.com/travelrequest/v4/requests/E82B0B803671004B9A5D952F34FBD01E";
pub const EX4_NONCE: &str = "6a0d3c2e-8f1b-4d7a-9c5e-000000000004";
pub const EX4_AUTH_CODE: &str = "5eed0000-1234-4abc-8def-0123456789ab";
pub const EX4_SIGNATURE: &str = "GMa9Ho62Uq/OndKXlrQZ8AV114EUu5TgYOzrVZUv/4A=";
pub const EX4_URL: &str = "https://connector.example.com/request/launchexternalurl/v4/form?logged_in_user_id=32c2fcc3-b2e8-4907-9672-5b3f49b1c643&request_owner_user_id=32c2fcc3-b2e8-4907-9672-5b3f49b1c643&company_domain=acmecorp.com&repquest_owner_employee_id=E12345&item_url=https%3A%2F%2Fus2.api.concursolutions.com%2Ftravelrequest%2Fv4%2Frequests%2FE82B0B803671004B9A5D952F34FBD01E&is_mobile=false&custom_field_launched_from=custom1&signature=GMa9Ho62Uq%2FOndKXlrQZ8AV114EUu5TgYOzrVZUv%2F4A%3D&nonce=6a0d3c2e-8f1b-4d7a-9c5e-000000000004&client_auth_code=5eed0000-1234-4abc-8def-0123456789ab&source=HEADER&language_code=fr-FR";

/// docs/protocol.md §14.6: a Concur Request allocation launch by a delegate, with
/// `request_ids`, as the signer writes it.
pub const EX5_ITEM_URL: &str = "https://us2.api.concursolutions.com/travelrequest/v4/requests/E82B0B803671004B9A5D952F34FBD01E/allocations/5D1B3C8E07A54B3F9E2A6C4D8F0B1A27";
pub const EX5_NONCE: &str = "0f9e8d7c-6b5a-4938-8271-000000000005";
pub const EX5_AUTH_CODE: &str = "a11ca7e0-1234-4abc-8def-0123456789ab";
pub const EX5_REQUEST_ID: &str = "A1F3C5E7092B4D6F8A0C2E4B6D8F0A13";
pub const EX5_SIGNATURE: &str = "rymcQIu7WbuKN5GIut8de6zAUxkoq3osF8SynzVTDv4=";
pub const EX5_URL: &str = "https://connector.example.com/request/launchexternalurl/v4/form?logged_in_user_id=a1b2c3d4-0000-4000-8000-000000000abc&request_owner_user_id=32c2fcc3-b2e8-4907-9672-5b3f49b1c643&request_owner_employee_id=EMP%2000%2B7%26X&company_domain=acmecorp.com&item_url=https%3A%2F%2Fus2.api.concursolutions.com%2Ftravelrequest%2Fv4%2Frequests%2FE82B0B803671004B9A5D952F34FBD01E%2Fallocations%2F5D1B3C8E07A54B3F9E2A6C4D8F0B1A27&custom_field_launched_from=custom3&request_ids=A1F3C5E7092B4D6F8A0C2E4B6D8F0A13&source=ALLOCATION&is_mobile=true&nonce=0f9e8d7c-6b5a-4938-8271-000000000005&client_auth_code=a11ca7e0-1234-4abc-8def-0123456789ab&language_code=de&signature=rymcQIu7WbuKN5GIut8de6zAUxkoq3osF8SynzVTDv4%3D";

pub fn ex1_creds() -> ConnectorCredentials {
    creds(EX1_USER, EX1_PASS)
}

pub fn ex2_creds() -> ConnectorCredentials {
    creds(EX2_USER, EX2_PASS)
}

pub fn creds(user: &str, pass: &str) -> ConnectorCredentials {
    ConnectorCredentials::new(user, SecretString::from(pass.to_owned()))
        .expect("example credentials are 10 to 50 printable characters")
}

/// The query string of an example URL (the part after `?`).
pub fn query(url: &str) -> &str {
    url.split_once('?').expect("example URLs have a query").1
}

/// The query with one parameter's raw value replaced (the value is used as given).
pub fn with_raw(query: &str, name: &str, raw_value: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((n, _)) if n == name => format!("{n}={raw_value}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The query with its signature replaced by `signature`, percent-encoded as docs/protocol.md §14 does.
pub fn with_signature(query: &str, signature: &str) -> String {
    let encoded = signature
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    with_raw(query, "signature", &encoded)
}

/// The query without the named parameter.
pub fn without(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter(|pair| pair.split_once('=').map_or(*pair, |(n, _)| n) != name)
        .collect::<Vec<_>>()
        .join("&")
}

pub fn ex1_launch() -> V1Launch {
    V1Launch {
        company_domain: "acmecorp.com".into(),
        user_id: "jane.doe@acmecorp.com".into(),
        item_url: EX1_ITEM_URL.into(),
        nonce: EX1_NONCE.into(),
    }
}

pub fn ex2_launch() -> V4Launch {
    V4Launch {
        product: Product::Expense,
        company_domain: "acmecorp.com".into(),
        logged_in_user_id: EX2_USER_ID.into(),
        report_owner_user_id: EX2_USER_ID.into(),
        report_owner_employee_id: "E12345".into(),
        item_url: EX2_ITEM_URL.into(),
        nonce: EX2_NONCE.into(),
        custom_field_launched_from: Some("custom12".into()),
        source: Source::Entry,
        expense_ids: Vec::new(),
        is_mobile: false,
        client_auth_code: Some(EX2_AUTH_CODE.into()),
        language_code: Some("en-GB".into()),
    }
}

pub fn ex3_launch() -> V4Launch {
    V4Launch {
        product: Product::Expense,
        company_domain: "acmecorp.com".into(),
        logged_in_user_id: EX3_DELEGATE_ID.into(),
        report_owner_user_id: EX2_USER_ID.into(),
        report_owner_employee_id: EX3_EMPLOYEE_ID.into(),
        item_url: EX3_ITEM_URL.into(),
        nonce: EX3_NONCE.into(),
        custom_field_launched_from: Some("custom9".into()),
        source: Source::Allocation,
        expense_ids: vec![
            "29EE3C62F5D844458828A5C1086072D1".into(),
            "84FCBB92BD4E5342B849DAC29FD163A1".into(),
        ],
        is_mobile: true,
        client_auth_code: Some(EX3_AUTH_CODE.into()),
        language_code: Some("de".into()),
    }
}

pub fn ex4_launch() -> V4Launch {
    V4Launch {
        product: Product::Request,
        company_domain: "acmecorp.com".into(),
        logged_in_user_id: EX2_USER_ID.into(),
        report_owner_user_id: EX2_USER_ID.into(),
        report_owner_employee_id: "E12345".into(),
        item_url: EX4_ITEM_URL.into(),
        nonce: EX4_NONCE.into(),
        custom_field_launched_from: Some("custom1".into()),
        source: Source::Header,
        expense_ids: Vec::new(),
        is_mobile: false,
        client_auth_code: Some(EX4_AUTH_CODE.into()),
        language_code: Some("fr-FR".into()),
    }
}

pub fn ex5_launch() -> V4Launch {
    V4Launch {
        product: Product::Request,
        company_domain: "acmecorp.com".into(),
        logged_in_user_id: EX3_DELEGATE_ID.into(),
        report_owner_user_id: EX2_USER_ID.into(),
        report_owner_employee_id: EX3_EMPLOYEE_ID.into(),
        item_url: EX5_ITEM_URL.into(),
        nonce: EX5_NONCE.into(),
        custom_field_launched_from: Some("custom3".into()),
        source: Source::Allocation,
        expense_ids: vec![EX5_REQUEST_ID.into()],
        is_mobile: true,
        client_auth_code: Some(EX5_AUTH_CODE.into()),
        language_code: Some("de".into()),
    }
}

/// The query with every parameter named `from` renamed to `to` (values untouched).
pub fn renamed(query: &str, from: &str, to: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((n, v)) if n == from => format!("{to}={v}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}
