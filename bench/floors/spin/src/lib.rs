//! Benchmark floor S.F (issue #19): a wasi:http component that sends the incoming request to the
//! origin (`ORIGIN_AUTHORITY`, plain HTTP) with its method, path and fields (but `host` and the
//! connection's own), and streams the answer
//! back. No configuration, no policy, no token: what a fresh instance per request costs on the
//! Spin test host before edgeward does anything. Compare S.A0 (edgeward's anonymous route).

use futures::{SinkExt, StreamExt};
use spin_sdk::http::{
    send, Fields, IncomingRequest, IncomingResponse, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let authority = std::env::var("ORIGIN_AUTHORITY").unwrap_or_default();
    // The client's fields but for the ones the host sets itself (wasi:http refuses them).
    let list: Vec<(String, Vec<u8>)> = request
        .headers()
        .entries()
        .into_iter()
        .filter(|(name, _)| !matches!(name.as_str(), "host" | "connection" | "keep-alive"))
        .collect();
    let outgoing = OutgoingRequest::new(Fields::from_list(&list).unwrap_or_else(|_| Fields::new()));
    let path = request.path_with_query().unwrap_or_else(|| "/".into());
    let _ = outgoing.set_method(&request.method());
    let _ = outgoing.set_scheme(Some(&Scheme::Http));
    let _ = outgoing.set_authority(Some(&authority));
    let _ = outgoing.set_path_with_query(Some(&path));
    match send::<_, IncomingResponse>(outgoing).await {
        Ok(origin) => {
            let response = OutgoingResponse::new(origin.headers().clone());
            let _ = response.set_status_code(origin.status());
            let mut sink = response.take_body();
            out.set(response);
            let mut body = origin.take_body_stream();
            while let Some(Ok(chunk)) = body.next().await {
                if sink.send(chunk).await.is_err() {
                    break;
                }
            }
        }
        Err(_) => {
            let response = OutgoingResponse::new(Fields::new());
            let _ = response.set_status_code(502);
            let _ = out
                .set_with_body(response, b"origin unreachable".to_vec())
                .await;
        }
    }
}
