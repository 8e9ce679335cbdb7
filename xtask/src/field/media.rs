//! Real media through our relay with their client: `moq import fmp4` of an ffmpeg test
//! pattern, `moq export fmp4` of it back out, checked with ffprobe; and our relay's HTTP
//! `/fetch` of a group they published, compared with their `moq fetch` of it.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use super::Report;
use super::install::{Dialect, Generation};
use super::procs::{Proc, local, output};
use super::relays::OurRelay;
use crate::interop::http_get;

/// The test pattern: 4 s of 320x240 at 30 fps, a keyframe (and so a fragment and a group)
/// every 30 frames.
const SECONDS: u32 = 4;
const FPS: u32 = 30;
const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;
const FRAMES: u32 = SECONDS * FPS;

/// The broadcast their CLI publishes (`.hang`: their catalog format, detected by suffix).
const BROADCAST: &str = "field/media.hang";

fn media_dir() -> PathBuf {
    PathBuf::from("target/field-media")
}

fn input() -> PathBuf {
    media_dir().join("pattern.mp4")
}

/// Makes the fragmented MP4 with ffmpeg and checks it with ffprobe.
pub(crate) fn make_input() -> anyhow::Result<String> {
    std::fs::create_dir_all(media_dir())?;
    let size = format!("testsrc=size={WIDTH}x{HEIGHT}:rate={FPS}");
    let status = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-f", "lavfi", "-i", &size])
        .args(["-t", &SECONDS.to_string(), "-c:v", "libx264"])
        .args(["-g", &FPS.to_string(), "-pix_fmt", "yuv420p"])
        .args(["-movflags", "frag_keyframe+empty_moov+default_base_moof"])
        .args(["-f", "mp4"])
        .arg(input())
        .status()
        .context("running ffmpeg (apt-get install -y ffmpeg)")?;
    ensure!(status.success(), "ffmpeg failed: {status}");
    let probe = probe(&input())?;
    ensure!(
        probe == ("h264".to_string(), WIDTH, HEIGHT, FRAMES),
        "ffmpeg made {probe:?}"
    );
    Ok(format!("h264 {WIDTH}x{HEIGHT}, {FRAMES} frames"))
}

/// ffprobe's (codec, width, height, decoded frame count) of the first video stream.
fn probe(path: &std::path::Path) -> anyhow::Result<(String, u32, u32, u32)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    ensure!(
        out.status.success(),
        "ffprobe {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.trim().split(',').collect();
    let [codec, width, height, frames] = fields[..] else {
        bail!("unexpected ffprobe output {text:?}");
    };
    Ok((
        codec.to_string(),
        width.parse()?,
        height.parse()?,
        frames.parse()?,
    ))
}

/// Their `moq` with the MoQ side pointed at our relay on `version`.
fn moq(generation: &Generation, relay: &OurRelay, version: &str) -> anyhow::Result<Command> {
    let mut cmd = Command::new(generation.bin(&generation.cli)?);
    let url = format!("https://127.0.0.1:{}/", relay.port);
    match generation.dialect {
        Dialect::Current => cmd
            .args(["--connect", &url])
            .args(["--connect-tls-fingerprint", &relay.fingerprint])
            .args(["--connect-version", version]),
        Dialect::Previous => cmd
            .args(["--client-connect", &url])
            .args(["--client-tls-fingerprint", &relay.fingerprint])
            .args(["--client-version", version]),
    };
    cmd.args(["--broadcast", BROADCAST]);
    Ok(cmd)
}

pub(crate) fn steps(report: &mut Report, generation: &Generation, version: &str) {
    let tag = format!(
        "[{version}] our relay, their moq {}",
        generation.cli.version
    );
    let mut state = None;
    report.step(&format!("{tag}: import fmp4 (live)"), || {
        let relay = OurRelay::start("our relay", None)?;
        let out = media_dir().join(format!("export-{version}.mp4"));
        let exporter = Proc::spawn(
            "moq export fmp4",
            moq(generation, &relay, version)?
                .args(["export", "fmp4"])
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&out)?),
        )?;
        let mut importer = Proc::spawn(
            "moq import fmp4",
            moq(generation, &relay, version)?
                .args(["import", "fmp4"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null()),
        )?;
        feed(&mut importer)?;
        state = Some((relay, exporter, importer, out));
        Ok(format!("{BROADCAST}, fed at real time"))
    });
    let Some((relay, mut exporter, mut importer, out)) = state else {
        report.skip(&format!("{tag}: the rest"), "the import did not start");
        return;
    };

    if super::clients::has_fetch(version) && generation.dialect == Dialect::Current {
        report.step(&format!("{tag}: our HTTP /fetch = their moq fetch"), || {
            http_matches_their_fetch(generation, &relay, version)
        });
    } else {
        // Their `moq fetch` FETCHes, which needs lite-05 (and the previous generation's CLI
        // has no fetch verb); our relay still serves the group from the copy the exporter's
        // subscription left in its cache.
        report.step(
            &format!("{tag}: our HTTP /fetch (no moq fetch here)"),
            || {
                let (track, group, bytes) = our_http_fetch(&relay)?;
                Ok(format!("{track} group {group}: {bytes} bytes"))
            },
        );
    }

    let mut exported = None;
    let mut probed = None;
    report.step(&format!("{tag}: import EOF, export fmp4 + ffprobe"), || {
        // EOF: the importer finishes its tracks and exits; the exporter sees the broadcast
        // end and exits too.
        drop(importer.child.stdin.take());
        let status = importer.wait_exit(Duration::from_secs(15))?;
        ensure!(
            status.success(),
            "moq import exited {status}\n{}",
            importer.tail()
        );
        exported = Some(exporter.wait_exit(Duration::from_secs(15))?);
        let (codec, width, height, frames) = probe(&out)?;
        ensure!(
            (codec.as_str(), width, height) == ("h264", WIDTH, HEIGHT),
            "exported {codec} {width}x{height}"
        );
        // The exporter runs before the importer starts and the input is fed at real time,
        // so it normally subscribes to the video track before its first group and gets all
        // 120 frames. A live subscription starts at the latest group, so one landing while
        // group 1 is live loses group 0 (30 frames): that much slack, no more. More frames
        // than went in is a failure too.
        ensure!(
            frames + FPS >= FRAMES && frames <= FRAMES,
            "exported {frames} frames, imported {FRAMES}"
        );
        probed = Some(frames);
        Ok(format!(
            "{codec} {width}x{height}, {frames}/{FRAMES} frames"
        ))
    });
    report.step(
        &format!("{tag}: export ends cleanly at the import's end"),
        || {
            let status = exported.context("the exporter did not exit")?;
            let error = last_error(&exporter);
            let frames_missing = probed != Some(FRAMES);
            // moq-cli 0.11.2's import drops its track producers at EOF without finishing
            // them, so its publisher resets every subscription with Dropped (24), and its
            // own export exits 1 with `json: dropped` through moq-relay 0.14.18 exactly as
            // through ours (checked by hand; docs/interop.md). The end a relay can pass on
            // is that code, and that is what this accepts for that generation.
            if generation.dialect == Dialect::Previous
                && !status.success()
                && error.contains("dropped")
            {
                return Ok(format!(
                    "their import drops its tracks at EOF: export {status}, `dropped`, as through their relay"
                ));
            }
            // A known race, not a lost frame (the ffprobe step checked every frame arrived):
            // their import closes its session 1–4 ms after FINning its Subscribe streams, and
            // when our relay processes the close before its track task read the FIN (a close
            // cancels the session's tasks at once), the track ends with Transport (their
            // "going away"). Reported, not failed; docs/interop.md.
            if !status.success() && error.contains("going away") && !frames_missing {
                return Ok(format!(
                    "RACE: export {status} `going away`: their close overtook their FIN at our relay (all frames exported)"
                ));
            }
            ensure!(status.success(), "moq export exited {status}: {error}");
            Ok("exit 0".to_string())
        },
    );
    drop(relay);
}

/// Writes the test pattern to the importer's stdin in 16 chunks over its duration, so it
/// arrives as live media would; stdin stays open (the last group ends at EOF).
fn feed(importer: &mut Proc) -> anyhow::Result<()> {
    let bytes = std::fs::read(input())?;
    let log = importer.log.clone();
    let stdin = importer.child.stdin.as_mut().context("importer stdin")?;
    let chunks = 16;
    let pause = Duration::from_millis(u64::from(SECONDS) * 1000 / chunks as u64);
    let start = Instant::now();
    for chunk in bytes.chunks(bytes.len().div_ceil(chunks)) {
        stdin
            .write_all(chunk)
            .with_context(|| format!("writing to moq import\n{}", super::procs::tail(&log)))?;
        stdin.flush()?;
        std::thread::sleep(pause);
    }
    eprintln!(
        "field: fed {} bytes in {:.1} s",
        bytes.len(),
        start.elapsed().as_secs_f64()
    );
    importer.alive()
}

/// The catalog names the video track; group 1 of it through our HTTP `/fetch` must be the
/// bytes their `moq fetch` gets through our relay; a group that never existed is refused.
fn http_matches_their_fetch(
    generation: &Generation,
    relay: &OurRelay,
    version: &str,
) -> anyhow::Result<String> {
    let (track, group, body) = our_http_fetch_body(relay)?;
    let addr = local(relay.port);
    let (exit, theirs) = output(
        "moq fetch",
        moq(generation, relay, version)?.args(["fetch", &track, "--group", &group.to_string()]),
        Duration::from_secs(40),
    )?;
    ensure!(exit.success(), "moq fetch exited {exit}");
    ensure!(
        theirs == body,
        "their moq fetch ({} bytes) and our HTTP /fetch ({} bytes) differ",
        theirs.len(),
        body.len()
    );
    let (missing, empty) = http_get(addr, &format!("/fetch/{BROADCAST}/{track}?group=999999"))?;
    ensure!(
        missing != 200,
        "HTTP /fetch of a group that never existed answered 200 ({} bytes)",
        empty.len()
    );
    let (exit, bytes) = output(
        "moq fetch (missing)",
        moq(generation, relay, version)?.args(["fetch", &track, "--group", "999999"]),
        Duration::from_secs(40),
    )?;
    ensure!(
        !exit.success() && bytes.is_empty(),
        "their moq fetch of a group that never existed exited {exit} with {} bytes",
        bytes.len()
    );
    Ok(format!(
        "{track} group {group}: {} bytes both ways; missing group: HTTP {missing}, moq fetch {exit}",
        body.len()
    ))
}

/// Our relay's HTTP `/fetch` of the catalog (group 0) and of group 1 of the video track it
/// names: (track, group, bytes). Fails unless both are non-empty 200s.
fn our_http_fetch_body(relay: &OurRelay) -> anyhow::Result<(String, u64, Vec<u8>)> {
    let addr = local(relay.port);
    let (status, catalog) = http_get(addr, &format!("/fetch/{BROADCAST}/catalog.json?group=0"))?;
    ensure!(
        status == 200,
        "HTTP /fetch of catalog.json answered {status}"
    );
    let catalog = String::from_utf8_lossy(&catalog).into_owned();
    let track = video_track(&catalog)
        .with_context(|| format!("no video track in the catalog: {catalog}"))?;
    let group = 1;
    let (status, body) = http_get(addr, &format!("/fetch/{BROADCAST}/{track}?group={group}"))?;
    ensure!(
        status == 200 && !body.is_empty(),
        "HTTP /fetch of {track} group {group} answered {status} with {} bytes",
        body.len()
    );
    Ok((track, group, body))
}

/// [`our_http_fetch_body`] with the body's length.
fn our_http_fetch(relay: &OurRelay) -> anyhow::Result<(String, u64, usize)> {
    let (track, group, body) = our_http_fetch_body(relay)?;
    Ok((track, group, body.len()))
}

/// The last `Error:` line of a reference binary's log (they print the error chain last).
fn last_error(proc: &Proc) -> String {
    let text = super::procs::strip_ansi(&std::fs::read_to_string(&proc.log).unwrap_or_default());
    text.lines()
        .rev()
        .find(|l| l.starts_with("Error:"))
        .unwrap_or("no error line")
        .to_string()
}

/// The first video rendition's track name in a hang catalog (`"video": {"renditions":
/// {"<name>": …}}`), found without a JSON parser (xtask has no dependencies but anyhow).
fn video_track(catalog: &str) -> Option<String> {
    let video = &catalog[catalog.find("\"video\"")?..];
    let renditions = &video[video.find("\"renditions\"")?..];
    let open = renditions.find('{')?;
    let rest = &renditions[open + 1..];
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    Some(rest[start..end].to_string())
}
