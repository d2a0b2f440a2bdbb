//! The app renders: `distsim --screenshot out.png --at T FILE` under Xvfb with Mesa's
//! software Vulkan driver gives a PNG of the window's size with the protocol's colours.
//! CI installs xvfb and the Mesa driver (see `.ci/run`); elsewhere the test says it skipped.
#![cfg(feature = "gui")]

use std::path::PathBuf;
use std::process::Command;

fn have_xvfb() -> bool {
    Command::new("xvfb-run").arg("--help").output().is_ok()
}

/// Runs the app under Xvfb with `args`; returns the scratch directory, or `None` (skipped)
/// without xvfb-run outside CI.
fn under_xvfb(args: &[&str], out_name: &str) -> Option<PathBuf> {
    if !have_xvfb() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide xvfb-run (see .ci/run)"
        );
        eprintln!("skipped: xvfb-run is not installed");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("distsim-shot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = dir.join("xdg");
    std::fs::create_dir_all(&runtime).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let out: PathBuf = dir.join(out_name);
    let status = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x1024x24"])
        .arg(env!("CARGO_BIN_EXE_distsim"))
        .args(args)
        .arg(out.to_str().unwrap())
        .env("XDG_RUNTIME_DIR", &runtime)
        .status()
        .expect("run distsim under xvfb-run");
    assert!(status.success(), "distsim {args:?} failed: {status}");
    Some(out)
}

fn screenshot(file: &str, at: &str, name: &str) -> Option<(u32, u32, Vec<u8>)> {
    screenshot_with(file, at, name, &[])
}

fn screenshot_with(
    file: &str,
    at: &str,
    name: &str,
    extra: &[&str],
) -> Option<(u32, u32, Vec<u8>)> {
    let mut args = vec![file, "--at", at];
    args.extend_from_slice(extra);
    args.push("--screenshot");
    let out = under_xvfb(&args, name)?;
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&out).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3);
    let rgb: Vec<u8> = buf
        .chunks(channels)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    Some((info.width, info.height, rgb))
}

fn count_near(rgb: &[u8], color: [u8; 3], tol: i32) -> usize {
    rgb.chunks(3)
        .filter(|p| (0..3).all(|i| (p[i] as i32 - color[i] as i32).abs() <= tol))
        .count()
}

#[test]
fn the_app_renders_nodes_messages_and_partitions() {
    // The relay scenario at 4.1s: tokens held (amber nodes) and on the wire.
    let Some((w, h, rgb)) = screenshot("scenarios/relay/random-walk.ron", "4.1s", "relay.png")
    else {
        return;
    };
    assert_eq!((w, h), (1280, 800));
    let amber = count_near(&rgb, [0xff, 0x8c, 0x1a], 12); // a node holding a token (Tone::Leader)
    let grey = count_near(&rgb, [0x6c, 0x75, 0x85], 12); // relay nodes
    let token = count_near(&rgb, [0x4d, 0xd0, 0xe1], 16); // the Token message colour (legend and wire)
    assert!(
        amber > 2_000,
        "holding nodes are drawn ({amber} amber pixels)"
    );
    assert!(grey > 2_000, "idle nodes are drawn ({grey} grey pixels)");
    assert!(token > 40, "the message colour appears ({token} pixels)");
}

#[test]
fn without_a_display_the_app_explains_and_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_distsim"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no display") && err.contains("distsim run"),
        "{err}"
    );
}

#[test]
fn without_a_gpu_the_app_explains_and_exits_2() {
    if !have_xvfb() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide xvfb-run (see .ci/run)"
        );
        eprintln!("skipped: xvfb-run is not installed");
        return;
    }
    // No Vulkan driver at all: Bevy cannot find an adapter.
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x1024x24"])
        .arg(env!("CARGO_BIN_EXE_distsim"))
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .env("WGPU_BACKEND", "vulkan")
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot start here") && err.contains("distsim run"),
        "{err}"
    );
}

#[test]
fn a_system_of_services_shows_its_plots_and_queue() {
    // The no-cache baseline past the database's capacity: the Plots panel draws the series
    // (first line colour) and db1 carries its queue bar, red when nearly full.
    let Some((w, h, rgb)) = screenshot(
        "scenarios/basics/no-cache-baseline.ron",
        "18s",
        "baseline.png",
    ) else {
        return;
    };
    assert_eq!((w, h), (1280, 800));
    let line = count_near(&rgb, [0x4d, 0xab, 0xf7], 20); // style::series_color(0)
    assert!(line > 300, "plot lines are drawn ({line} pixels)");
    let full_queue = count_near(&rgb, [0xff, 0x4d, 0x4d], 16); // style::CUT, the full bar
    assert!(
        full_queue > 100,
        "the full queue bar is drawn ({full_queue} pixels)"
    );
}

#[test]
fn the_space_time_diagram_draws_lanes_and_message_arrows() {
    // Raft's leader crash at 3s: the diagram replaces the plots under the topology and draws
    // each message as an arrow in its kind's colour (the legend's colours), so the lower part
    // of the window holds far more of them with it than without.
    let file = "scenarios/raft/leader-crash.ron";
    let Some((w, h, with)) = screenshot_with(file, "3s", "st-on.png", &["--spacetime"]) else {
        return;
    };
    let (_, _, without) = screenshot(file, "3s", "st-off.png").expect("xvfb ran once");
    assert_eq!((w, h), (1280, 800));
    let lower = |rgb: &[u8]| rgb[(rgb.len() * 5 / 8)..].to_vec();
    let kinds = |rgb: &[u8]| {
        [
            [0x4d, 0xd0, 0xe1],
            [0xff, 0x87, 0x87],
            [0xb1, 0x97, 0xfc],
            [0x8c, 0xe9, 0x9a],
        ]
        .iter()
        .map(|c| count_near(&lower(rgb), *c, 24))
        .sum::<usize>()
    };
    let (on, off) = (kinds(&with), kinds(&without));
    // Measured: 6,823 with the diagram, 0 without.
    assert!(
        on > off + 3_000,
        "message arrows are drawn in the diagram ({on} kind-coloured pixels with it, {off} without)"
    );
    // The crash shades the crashed lane grey from 2s on (the shade over the panel's
    // background, measured: 20,749 such pixels with the diagram, 249 without).
    let shade = |rgb: &[u8]| count_near(&lower(rgb), [0x2b, 0x2d, 0x31], 3);
    let (on, off) = (shade(&with), shade(&without));
    assert!(
        on > 10_000 && off < 2_000,
        "the crashed lane is shaded ({on} shade pixels with the diagram, {off} without)"
    );
}

#[test]
fn the_app_records_an_animated_gif_of_a_window_of_the_run() {
    // 1s to 1.2s at 10 fps and the default speed 0.5x: a frame every 50 ms, five frames.
    let Some(out) = under_xvfb(
        &[
            "scenarios/raft/default.ron",
            "--from",
            "1s",
            "--to",
            "1.2s",
            "--fps",
            "10",
            "--record",
        ],
        "clip.gif",
    ) else {
        return;
    };
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = opts
        .read_info(std::fs::File::open(&out).unwrap())
        .expect("a GIF");
    assert_eq!((decoder.width(), decoder.height()), (1280, 800));
    let mut frames = Vec::new();
    while let Some(f) = decoder.read_next_frame().unwrap() {
        frames.push((f.delay, f.buffer.to_vec()));
    }
    let delays: Vec<u16> = frames.iter().map(|f| f.0).collect();
    assert_eq!(
        delays,
        vec![10, 10, 10, 10, 150],
        "centiseconds; the last frame held"
    );
    assert!(
        frames.windows(2).all(|p| p[0].1 != p[1].1),
        "every frame shows a later instant (messages move, the clock advances)"
    );
}
