//! Session fuzz scripts: the input of the `session` fuzz target (`fuzz/`) and of the engine's
//! bounded fuzz test, and [`play`], their one player.
//!
//! A script is a run of streams, each written as one control byte (bit 0: bidirectional,
//! bit 1: FIN after the bytes), one length byte, and that many bytes (fewer if the script ends
//! first). A trailing single byte is ignored.

use web_transport_trait::{SendStream as _, Session};

/// Most streams one script opens; the rest of the script is ignored.
pub const MAX_STREAMS: usize = 8;

/// Appends one stream to `script`: `body` (its first 255 bytes), on a bidirectional stream if
/// `bidi`, finished after the bytes if `fin`.
pub fn push_stream(script: &mut Vec<u8>, bidi: bool, fin: bool, body: &[u8]) {
    let body = &body[..body.len().min(255)];
    script.extend([u8::from(bidi) | u8::from(fin) << 1, body.len() as u8]);
    script.extend_from_slice(body);
}

/// A stream [`play`] opened: the send half, and the receive half of a bidirectional one.
pub type Played<T> = (
    <T as Session>::SendStream,
    Option<<T as Session>::RecvStream>,
);

/// Opens `script`'s streams on `client` and writes their bytes, stopping at the first stream
/// that cannot be opened. Write errors are ignored (the peer may reset). The streams stay open
/// until the caller drops them.
pub async fn play<T: Session>(client: &T, mut script: &[u8]) -> Vec<Played<T>> {
    let mut open = Vec::new();
    while script.len() >= 2 && open.len() < MAX_STREAMS {
        let (control, len) = (script[0], script[1] as usize);
        let body = &script[2..(2 + len).min(script.len())];
        script = &script[2 + body.len()..];
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
}
