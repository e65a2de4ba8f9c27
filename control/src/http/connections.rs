//! GET /v1/connections (`ipvsadm -Lnc`): every worker's connections.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use config::ipvsadm;

use super::error::ApiError;
use super::state::AdminState;

/// Connections fetched per request to a worker.
const LIST_CHUNK: usize = 1024;
/// How long a worker may take to answer one chunk.
const LIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

fn conn_view(c: &conn_table::ConnInfo) -> ipvsadm::ConnView {
    use ipvsadm::ConnProtocol;
    let protocol = match c.original.proto {
        conn_table::proto::TCP => ConnProtocol::Tcp,
        conn_table::proto::UDP => ConnProtocol::Udp,
        conn_table::proto::SCTP => ConnProtocol::Sctp,
        conn_table::proto::ICMP => ConnProtocol::Icmp,
        conn_table::proto::ICMPV6 => ConnProtocol::Icmpv6,
        _ => ConnProtocol::Ip,
    };
    // The real server is the source of the replies (the dataplane fills the tuple in for
    // DR/TUN connections, which keep none).
    let (dest_addr, dest_port) = c
        .reply
        .map(|r| (r.src, r.sport))
        .unwrap_or((c.original.dst, c.original.dport));
    ipvsadm::ConnView {
        protocol,
        state: c.state.name().to_string(),
        expires: c.expires_in_ms.div_ceil(1000) as u32,
        client_addr: c.original.src,
        client_port: c.original.sport,
        virtual_addr: c.original.dst,
        virtual_port: c.original.dport,
        dest_addr,
        dest_port,
        pe: None,
    }
}

/// GET /v1/connections (ipvsadm -Lnc): every worker's connections, fetched in chunks the
/// workers answer between packet bursts.
pub(super) async fn list_connections(State(st): State<AdminState>) -> Response {
    let rt = st.runtime.clone();
    let _one_at_a_time = rt.list_lock.lock().await;
    let mut out = Vec::new();
    for (w, (requests, answers)) in rt.conn_channels.iter().enumerate() {
        // Answers to an earlier listing that timed out must not be taken for ours.
        while answers.pop().is_some() {}
        let mut cursor = Some(conn_table::ListCursor::START);
        while let Some(c) = cursor {
            let req = dataplane::pipeline::ConnListRequest {
                cursor: c,
                buf: Vec::with_capacity(LIST_CHUNK),
                next: None,
            };
            if requests.push(req).is_err() {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("worker {w} is busy with another request; retry"),
                )
                .into_response();
            }
            let deadline = tokio::time::Instant::now() + LIST_TIMEOUT;
            let answer = loop {
                if let Some(a) = answers.pop() {
                    break a;
                }
                if tokio::time::Instant::now() >= deadline {
                    return ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("worker {w} did not answer within {LIST_TIMEOUT:?}"),
                    )
                    .into_response();
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            };
            out.extend(answer.buf.iter().map(conn_view));
            cursor = answer.next;
        }
    }
    Json(out).into_response()
}
