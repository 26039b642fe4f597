//! Dialing through an HTTP CONNECT proxy (RFC 9110, section 9.3.6): the
//! dialer asks the proxy for a tunnel to the target, and after a `2xx`
//! answer the connection carries the link's bytes unchanged, handshake
//! included. Sidecars and egress gateways speak it, and so does the fault
//! proxy of the torture suites, which sits on every data link this way.

use std::net::SocketAddr;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use super::parts::io_error;
use crate::error::NetError;

/// The most bytes of the proxy's answer read before giving up on it.
const ANSWER_BYTES_MAX: usize = 4096;

/// Connects to `target`, through the proxy at `via` when there is one.
pub(crate) async fn dial(
    target: SocketAddr,
    via: Option<SocketAddr>,
) -> Result<TcpStream, NetError> {
    let Some(proxy) = via else {
        return TcpStream::connect(target)
            .await
            .map_err(|e| io_error("connect", e));
    };
    let mut stream = TcpStream::connect(proxy)
        .await
        .map_err(|e| io_error("connect to the proxy", e))?;
    stream
        .write_all(connect_request(target).as_bytes())
        .await
        .map_err(|e| io_error("write to the proxy", e))?;
    // Byte by byte, so that not one byte of the tunnel is consumed.
    let mut answer = Answer::new(proxy);
    let mut byte = [0u8; 1];
    while !answer.complete()? {
        let n = stream
            .read(&mut byte)
            .await
            .map_err(|e| io_error("read from the proxy", e))?;
        answer.push(n, byte[0])?;
    }
    check_answer(&answer.bytes, proxy)?;
    Ok(stream)
}

/// [`dial`] for blocking sockets: the cluster's control links (a worker to
/// its coordinator) are plain threads, not executors.
pub fn dial_blocking(
    target: SocketAddr,
    via: Option<SocketAddr>,
) -> Result<std::net::TcpStream, NetError> {
    use std::io::{Read, Write};
    let Some(proxy) = via else {
        return std::net::TcpStream::connect(target).map_err(|e| io_error("connect", e));
    };
    let mut stream =
        std::net::TcpStream::connect(proxy).map_err(|e| io_error("connect to the proxy", e))?;
    stream
        .write_all(connect_request(target).as_bytes())
        .map_err(|e| io_error("write to the proxy", e))?;
    let mut answer = Answer::new(proxy);
    let mut byte = [0u8; 1];
    while !answer.complete()? {
        let n = stream
            .read(&mut byte)
            .map_err(|e| io_error("read from the proxy", e))?;
        answer.push(n, byte[0])?;
    }
    check_answer(&answer.bytes, proxy)?;
    Ok(stream)
}

fn connect_request(target: SocketAddr) -> String {
    format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")
}

/// The proxy's answer as it is read, up to its blank line.
struct Answer {
    bytes: Vec<u8>,
    proxy: SocketAddr,
}

impl Answer {
    fn new(proxy: SocketAddr) -> Self {
        Self {
            bytes: Vec::with_capacity(64),
            proxy,
        }
    }

    /// True once the blank line came; an error when it is too long.
    fn complete(&self) -> Result<bool, NetError> {
        if self.bytes.ends_with(b"\r\n\r\n") {
            return Ok(true);
        }
        if self.bytes.len() >= ANSWER_BYTES_MAX {
            return Err(refused(
                self.proxy,
                "an answer longer than 4096 bytes".into(),
            ));
        }
        Ok(false)
    }

    /// Takes the result of a one-byte read: `n` bytes read, `byte`.
    fn push(&mut self, n: usize, byte: u8) -> Result<(), NetError> {
        if n == 0 {
            return Err(refused(
                self.proxy,
                format!(
                    "the connection closed after {} bytes of its answer",
                    self.bytes.len()
                ),
            ));
        }
        self.bytes.push(byte);
        Ok(())
    }
}

/// Accepts a `2xx` status line; anything else names what the proxy said.
fn check_answer(answer: &[u8], proxy: SocketAddr) -> Result<(), NetError> {
    let text = String::from_utf8_lossy(answer);
    let status_line = text.lines().next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version_ok = parts.next().is_some_and(|v| v.starts_with("HTTP/1."));
    let code = parts.next().and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(200..=299) if version_ok => Ok(()),
        _ => Err(refused(proxy, format!("`{}`", status_line.trim()))),
    }
}

fn refused(proxy: SocketAddr, answer: String) -> NetError {
    NetError::ProxyRefused { proxy, answer }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy() -> SocketAddr {
        "127.0.0.1:3128".parse().unwrap()
    }

    #[test]
    fn a_2xx_answer_opens_the_tunnel() {
        let ok = b"HTTP/1.1 200 Connection established\r\n\r\n";
        assert!(check_answer(ok, proxy()).is_ok());
        assert!(check_answer(b"HTTP/1.0 204 No Content\r\n\r\n", proxy()).is_ok());
    }

    #[test]
    fn any_other_answer_is_refused_with_its_status_line() {
        for answer in [
            &b"HTTP/1.1 403 Forbidden\r\nX: y\r\n\r\n"[..],
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 2000 Weird\r\n\r\n",
            b"\r\n\r\n",
        ] {
            let err = check_answer(answer, proxy()).unwrap_err();
            let NetError::ProxyRefused { answer: said, .. } = &err else {
                panic!("{err:?}");
            };
            let first = String::from_utf8_lossy(answer);
            assert_eq!(
                said,
                &format!("`{}`", first.lines().next().unwrap_or("").trim())
            );
        }
    }

    /// A proxy that takes one connection per answer: checks its CONNECT
    /// request, sends the answer, and after a 200 relays the tunnel's first
    /// five bytes to the target.
    fn scripted_proxy(
        proxy: std::net::TcpListener,
        target: SocketAddr,
        answers: &[&'static [u8]],
    ) -> std::thread::JoinHandle<()> {
        use std::io::{Read, Write};
        let answers = answers.to_vec();
        std::thread::spawn(move || {
            for answer in answers {
                let (mut client, _) = proxy.accept().unwrap();
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") {
                    client.read_exact(&mut byte).unwrap();
                    request.push(byte[0]);
                }
                let request = String::from_utf8(request).unwrap();
                assert!(request.starts_with(&format!("CONNECT {target} HTTP/1.1\r\n")));
                client.write_all(answer).unwrap();
                if answer.starts_with(b"HTTP/1.1 200") {
                    let mut upstream = std::net::TcpStream::connect(target).unwrap();
                    let mut hello = [0u8; 5];
                    client.read_exact(&mut hello).unwrap();
                    upstream.write_all(&hello).unwrap();
                }
            }
        })
    }

    #[test]
    fn dialing_through_a_proxy_tunnels_to_the_target() {
        use std::io::Read;
        let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (target_addr, proxy_addr) = (target.local_addr().unwrap(), proxy.local_addr().unwrap());
        let relay = scripted_proxy(proxy, target_addr, &[b"HTTP/1.1 200 OK\r\n\r\n"]);
        let got = std::thread::spawn(move || {
            let (mut s, _) = target.accept().unwrap();
            let mut hello = [0u8; 5];
            s.read_exact(&mut hello).unwrap();
            hello
        });
        glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                let mut stream = dial(target_addr, Some(proxy_addr)).await.unwrap();
                stream.write_all(b"hello").await.unwrap();
                stream.flush().await.unwrap();
            })
            .unwrap()
            .join()
            .unwrap();
        relay.join().unwrap();
        assert_eq!(&got.join().unwrap(), b"hello");
    }

    #[test]
    fn a_blocking_dial_through_a_proxy_tunnels_too_and_a_refusal_is_named() {
        use std::io::{Read, Write};
        let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (target_addr, proxy_addr) = (target.local_addr().unwrap(), proxy.local_addr().unwrap());
        let relay = scripted_proxy(
            proxy,
            target_addr,
            &[
                b"HTTP/1.1 502 Bad Gateway\r\n\r\n",
                b"HTTP/1.1 200 OK\r\n\r\n",
            ],
        );
        let err = dial_blocking(target_addr, Some(proxy_addr)).unwrap_err();
        assert!(err.to_string().contains("502 Bad Gateway"), "{err}");
        let mut stream = dial_blocking(target_addr, Some(proxy_addr)).unwrap();
        stream.write_all(b"hello").unwrap();
        let (mut s, _) = target.accept().unwrap();
        let mut hello = [0u8; 5];
        s.read_exact(&mut hello).unwrap();
        assert_eq!(&hello, b"hello");
        relay.join().unwrap();
    }
}
