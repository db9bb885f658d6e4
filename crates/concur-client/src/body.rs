//! Reading an HTTP answer's body under a ceiling, so a misbehaving peer (a proxy in front of
//! Concur, a customer's lookup service) cannot make a process hold unbounded memory.

/// Why a body was not read.
#[derive(Debug)]
pub enum BodyError {
    /// The declared length, or what arrived, passed the limit (in bytes); the rest is not read.
    TooLarge { limit: u64 },
    /// The connection failed while the body arrived.
    Transport(reqwest::Error),
}

/// The whole body of `response`, at most `limit` bytes: a declared `Content-Length` over the
/// limit is refused at once, and an undeclared (or understated) one as soon as the bytes
/// that arrived pass it.
pub async fn read_limited(
    response: &mut reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, BodyError> {
    let too_large = BodyError::TooLarge { limit };
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
