//! The shared-token check.

/// True when no token is required, or `given` is it. The comparison takes
/// the same time wherever the first difference is, so response times do
/// not reveal a prefix of the token.
pub(crate) fn token_ok(required: Option<&str>, given: Option<&[u8]>) -> bool {
    let Some(required) = required else {
        return true;
    };
    let Some(given) = given else {
        return false;
    };
    let required = required.as_bytes();
    if required.len() != given.len() {
        return false;
    }
    required
        .iter()
        .zip(given)
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::token_ok;

    #[test]
    fn only_the_token_passes_when_one_is_set() {
        assert!(token_ok(None, None));
        assert!(token_ok(None, Some(b"anything")));
        assert!(token_ok(Some("s3cret"), Some(b"s3cret")));
        assert!(!token_ok(Some("s3cret"), Some(b"s3creT")));
        assert!(!token_ok(Some("s3cret"), Some(b"s3cre")));
        assert!(!token_ok(Some("s3cret"), Some(b"")));
        assert!(!token_ok(Some("s3cret"), None));
    }
}
