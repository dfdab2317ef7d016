//! Which namespace a request speaks for.
//!
//! Kinesis streams live in an (account, region) namespace. The SDKs never send the region as
//! a member: it is in the SigV4 credential scope of the `Authorization` header,
//!
//! ```text
//! AWS4-HMAC-SHA256 Credential=AKID/20250101/eu-west-1/kinesis/aws4_request, SignedHeaders=..., Signature=...
//! ```
//!
//! or, for presigned requests, in the `X-Amz-Credential` query parameter. Strait reads the
//! region from there and does not verify the signature. The account is the node's configured
//! default account. A request without credentials, or with a scope that names no valid
//! region, is served in `us-east-1`.

use strait_core::{AccountId, Namespace, Region};

/// Returns the region of a SigV4 credential scope (`AKID/date/region/service/aws4_request`).
pub fn region_from_credential(credential: &str) -> Option<Region> {
    let mut parts = credential.split('/');
    let _key_id = parts.next()?;
    let _date = parts.next()?;
    let region = parts.next()?;
    Region::new(region).ok()
}

/// Returns the region named by an `Authorization` header, if it is a SigV4 header with a
/// credential scope.
pub fn region_from_authorization(authorization: &str) -> Option<Region> {
    let (_algorithm, parameters) = authorization.trim().split_once(' ')?;
    parameters
        .split(',')
        .filter_map(|parameter| parameter.trim().split_once('='))
        .find(|(name, _)| name.trim() == "Credential")
        .and_then(|(_, credential)| region_from_credential(credential.trim()))
}

/// Returns the region of a presigned request's query string (`X-Amz-Credential=...`).
pub fn region_from_query(query: &str) -> Option<Region> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "X-Amz-Credential")
        .and_then(|(_, value)| region_from_credential(&value.replace("%2F", "/").replace("%2f", "/")))
}

/// Resolves the namespace of a request from its `Authorization` header and query string.
pub fn namespace(authorization: Option<&str>, query: Option<&str>, account: &AccountId) -> Namespace {
    let region = authorization
        .and_then(region_from_authorization)
        .or_else(|| query.and_then(region_from_query))
        .unwrap_or_else(Region::default_region);
    Namespace::new(account.clone(), region)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "AWS4-HMAC-SHA256 Credential=000000000000/20250101/eu-west-1/kinesis/aws4_request, \
                          SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abcdef";

    #[test]
    fn reads_the_region_from_the_credential_scope() {
        assert_eq!(
            region_from_authorization(HEADER).map(|r| r.to_string()),
            Some("eu-west-1".to_owned())
        );
    }

    #[test]
    fn reads_the_region_from_a_presigned_query() {
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20250101%2Fap-south-1%2Fkinesis%2Faws4_request";
        assert_eq!(
            region_from_query(query).map(|r| r.to_string()),
            Some("ap-south-1".to_owned())
        );
    }

    #[test]
    fn falls_back_to_us_east_1() {
        let account = AccountId::default_account();
        for header in [None, Some("Bearer token"), Some("AWS4-HMAC-SHA256 Signature=x")] {
            assert_eq!(namespace(header, None, &account).region.to_string(), "us-east-1");
        }
        let resolved = namespace(Some(HEADER), None, &account);
        assert_eq!(resolved.region.to_string(), "eu-west-1");
        assert_eq!(resolved.account, account);
    }
}
