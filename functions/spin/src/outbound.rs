//! Outgoing requests for the core (JWKS, introspection) over wasi:http 0.2 `outgoing-handler`,
//! with the wasi:http request options for timeouts, which spin-sdk's `send` does not expose.
//! Blocking on the response is fine here: a component instance serves one request.

use edgeward::platform::{FetchError, FetchRequest, FetchResponse};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingResponse, Method, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};

/// Sends `request` and reads the whole answer, bounded by its timeout and body limit.
pub fn fetch(request: &FetchRequest) -> Result<FetchResponse, FetchError> {
    let outgoing = build(request).ok_or(FetchError::Unreachable)?;
    let body = outgoing.body().map_err(|()| FetchError::Unreachable)?;
    let timeout_ns = u64::from(request.timeout_ms) * 1_000_000;
    let options = RequestOptions::new();
    // Each setter fails only when the host does not support that timeout; the others still apply.
    let _ = options.set_connect_timeout(Some(timeout_ns));
    let _ = options.set_first_byte_timeout(Some(timeout_ns));
    let _ = options.set_between_bytes_timeout(Some(timeout_ns));
    let pending = outgoing_handler::handle(outgoing, Some(options)).map_err(map_error)?;
    write_body(body, &request.body)?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(map_error(code)),
        _ => return Err(FetchError::Unreachable),
    };
    read(response, request.max_body_bytes)
}

/// Starts `outgoing` (the forward to the origin) with connect and first-byte timeouts of
/// `timeout_ms`; the caller writes the body and awaits the response head.
pub(crate) fn send(
    outgoing: OutgoingRequest,
    timeout_ms: u32,
) -> Result<FutureIncomingResponse, FetchError> {
    let timeout_ns = u64::from(timeout_ms) * 1_000_000;
    let options = RequestOptions::new();
    // As in `fetch`: a timeout the host does not support is left to the host.
    let _ = options.set_connect_timeout(Some(timeout_ns));
    let _ = options.set_first_byte_timeout(Some(timeout_ns));
    outgoing_handler::handle(outgoing, Some(options)).map_err(map_error)
}

fn build(request: &FetchRequest) -> Option<OutgoingRequest> {
    let url = edgeward::http::parse_url(&request.url).ok()?;
    let list: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
        .collect();
    let outgoing = OutgoingRequest::new(Fields::from_list(&list).ok()?);
    let method = if request.method == "POST" {
        Method::Post
    } else {
        Method::Get
    };
    let scheme = if url.scheme() == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let host = url.host_str()?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let ok = outgoing.set_method(&method).is_ok()
        && outgoing.set_scheme(Some(&scheme)).is_ok()
        && outgoing.set_authority(Some(&authority)).is_ok()
        && outgoing.set_path_with_query(Some(&path)).is_ok();
    ok.then_some(outgoing)
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), FetchError> {
    {
        let stream = body.write().map_err(|()| FetchError::Unreachable)?;
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|_| FetchError::Unreachable)?;
        }
    }
    OutgoingBody::finish(body, None).map_err(map_error)
}

fn read(response: IncomingResponse, max_body_bytes: usize) -> Result<FetchResponse, FetchError> {
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| {
            (
                n.to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let incoming = response.consume().map_err(|()| FetchError::Unreachable)?;
    let stream = incoming.stream().map_err(|()| FetchError::Unreachable)?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                body.extend_from_slice(&chunk);
                if body.len() > max_body_bytes {
                    return Err(FetchError::TooLarge);
                }
            }
            Err(wasi::io::streams::StreamError::Closed) => break,
            Err(_) => return Err(FetchError::Unreachable),
        }
    }
    Ok(FetchResponse {
        status: response.status(),
        headers,
        body,
    })
}

pub(crate) fn map_error(code: ErrorCode) -> FetchError {
    match code {
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::HttpResponseTimeout => FetchError::Timeout,
        _ => FetchError::Unreachable,
    }
}
