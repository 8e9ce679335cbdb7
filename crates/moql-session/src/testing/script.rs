//! Session fuzz scripts: the input of the `session` fuzz target (`fuzz/`) and of the engine's
//! bounded fuzz test, and [`play`], their one player.
//!
//! A script is a run of streams, each written as one control byte (bit 0: bidirectional,
//! bit 1: FIN after the bytes, bit 2: the server's stream, see below), one length byte, and
//! that many bytes (fewer if the script ends first). A trailing single byte is ignored.
//!
//! With bit 2 set the bytes go not on a new stream but on the bidirectional stream the server
//! opened to the client (a server with a subscribe origin opens its Announce stream, spec
//! 4.2, and the script plays the client's replies: ANNOUNCE_OK, ANNOUNCEs). The first such
//! entry accepts that stream; later ones write more on it. Bit 0 is then ignored.

use web_transport_trait::{SendStream as _, Session};

/// Most streams one script opens; the rest of the script is ignored.
pub const MAX_STREAMS: usize = 8;

/// Appends one stream to `script`: `body` (its first 255 bytes), on a bidirectional stream if
/// `bidi`, finished after the bytes if `fin`.
pub fn push_stream(script: &mut Vec<u8>, bidi: bool, fin: bool, body: &[u8]) {
    push(script, u8::from(bidi) | u8::from(fin) << 1, body);
}

/// Appends `body` (its first 255 bytes) as bytes written on the stream the server opened,
/// finished after them if `fin`.
pub fn push_reply(script: &mut Vec<u8>, fin: bool, body: &[u8]) {
    push(script, SERVER_STREAM | u8::from(fin) << 1, body);
}

/// Control bit 2: the bytes go on the server's stream.
const SERVER_STREAM: u8 = 4;

fn push(script: &mut Vec<u8>, control: u8, body: &[u8]) {
    let body = &body[..body.len().min(255)];
    script.extend([control, body.len() as u8]);
    script.extend_from_slice(body);
}

/// A stream [`play`] opened: the send half, and the receive half of a bidirectional one.
pub type Played<T> = (
    <T as Session>::SendStream,
    Option<<T as Session>::RecvStream>,
);

/// Opens `script`'s streams on `client` and writes their bytes, stopping at the first stream
/// that cannot be opened or accepted. Write errors are ignored (the peer may reset). The
/// streams stay open until the caller drops them.
///
/// An entry for the server's stream waits for the server to open one: play such scripts only
/// against a server that does (one with a subscribe origin), or the wait does not end.
pub async fn play<T: Session>(client: &T, mut script: &[u8]) -> Vec<Played<T>> {
    let mut open: Vec<Played<T>> = Vec::new();
    // Where the server's stream is in `open`, once accepted.
    let mut accepted = None;
    while script.len() >= 2 && open.len() < MAX_STREAMS {
        let (control, len) = (script[0], script[1] as usize);
        let body = &script[2..(2 + len).min(script.len())];
        script = &script[2 + body.len()..];
        if control & SERVER_STREAM != 0 {
            let at = match accepted {
                Some(at) => at,
                None => {
                    let Ok((send, recv)) = client.accept_bi().await else {
                        break;
                    };
                    open.push((send, Some(recv)));
                    accepted = Some(open.len() - 1);
                    open.len() - 1
                }
            };
            let send = &mut open[at].0;
            let _ = send.write_all(body).await;
            if control & 2 == 2 {
                let _ = send.finish();
            }
            continue;
        }
        let (mut send, recv) = if control & 1 == 1 {
            let Ok((send, recv)) = client.open_bi().await else {
                break;
            };
            (send, Some(recv))
        } else {
            let Ok(send) = client.open_uni().await else {
                break;
            };
            (send, None)
        };
        let _ = send.write_all(body).await;
        if control & 2 == 2 {
            let _ = send.finish();
        }
        open.push((send, recv));
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::mem;
    use web_transport_trait::RecvStream as _;

    #[test]
    fn a_pushed_stream_is_control_length_body_and_caps_at_255_bytes() {
        let mut script = Vec::new();
        push_stream(&mut script, true, false, b"ab");
        push_stream(&mut script, false, true, &[7; 300]);
        assert_eq!(&script[..4], &[0x01, 2, b'a', b'b']);
        assert_eq!(&script[4..6], &[0x02, 255]);
        assert_eq!(script.len(), 4 + 2 + 255);
    }

    #[tokio::test(start_paused = true)]
    async fn play_opens_each_stream_with_its_bytes_and_fin() {
        let (client, server) = mem::pair();
        let mut script = Vec::new();
        push_stream(&mut script, false, true, b"uni");
        push_stream(&mut script, true, true, b"bidi");
        script.push(0xff); // a trailing byte: ignored
        let open = play(&client, &script).await;
        assert_eq!(open.len(), 2);
        assert!(open[0].1.is_none() && open[1].1.is_some());

        let mut uni = server.accept_uni().await.unwrap();
        assert_eq!(&uni.read_all().await.unwrap()[..], b"uni");
        let (_send, mut bidi) = server.accept_bi().await.unwrap();
        assert_eq!(&bidi.read_all().await.unwrap()[..], b"bidi");
    }

    #[tokio::test(start_paused = true)]
    async fn replies_go_on_the_one_stream_the_server_opened() {
        let (client, server) = mem::pair();
        let mut script = Vec::new();
        push_reply(&mut script, false, b"ok");
        push_stream(&mut script, false, true, b"uni");
        push_reply(&mut script, true, b"+more");
        // A stream shows up at the peer with its first bytes, as on QUIC.
        let (mut server_send, mut from_client) = server.open_bi().await.unwrap();
        server_send.write_all(b"request").await.unwrap();
        let open = play(&client, &script).await;
        assert_eq!(open.len(), 2, "the accepted stream and the uni stream");
        assert_eq!(&from_client.read_all().await.unwrap()[..], b"ok+more");
    }
}
