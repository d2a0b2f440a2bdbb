//! The app renders: `distsim --screenshot out.png --at T FILE` under Xvfb with Mesa's
//! software Vulkan driver gives a PNG of the window's size with the protocol's colours.
//! CI installs xvfb and the Mesa driver (see `.ci/run`); elsewhere the test says it skipped.
#![cfg(feature = "gui")]

use std::path::PathBuf;
use std::process::Command;

fn have_xvfb() -> bool {
    Command::new("xvfb-run").arg("--help").output().is_ok()
}

fn screenshot(file: &str, at: &str, name: &str) -> Option<(u32, u32, Vec<u8>)> {
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
    let out: PathBuf = dir.join(name);
    let status = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x1024x24"])
        .arg(env!("CARGO_BIN_EXE_distsim"))
        .args(["--screenshot", out.to_str().unwrap(), "--at", at, file])
        .env("XDG_RUNTIME_DIR", &runtime)
        .status()
        .expect("run distsim under xvfb-run");
    assert!(status.success(), "distsim --screenshot failed: {status}");
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
