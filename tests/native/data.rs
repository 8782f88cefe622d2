//! The data loader on real image files through the real decoders, and every bad input the
//! core issue names: each is an error naming the file, never a panic.

use std::path::{Path, PathBuf};

use latentpad::Error;
use latentpad::data::load_folder;
use latentpad::image::{RGB_LEN, decode};

fn fixtures(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(sub)
}

fn read(sub: &str, name: &str) -> Vec<u8> {
    std::fs::read(fixtures(sub).join(name)).unwrap()
}

#[test]
fn every_supported_format_decodes_to_a_face() {
    for name in [
        "rgba.png",
        "grayscale.png",
        "palette.png",
        "photo.jpg",
        "sticker.webp",
        "animated.gif",
    ] {
        let image = decode(&read("good", name), name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(image.0.len(), RGB_LEN, "{name}");
        // Centre of the face: yellow (or its grey level); corner: white background.
        let centre = &image.0[(32 * 64 + 32) * 3..][..3];
        let corner = &image.0[..3];
        assert!(corner.iter().all(|c| *c > 240), "{name}: corner {corner:?}");
        if name == "grayscale.png" {
            assert!(centre[0] == centre[1] && centre[1] == centre[2], "{name}");
            assert!((150..230).contains(&centre[0]), "{name}: {centre:?}");
        } else {
            assert!(
                centre[0] > 200 && centre[1] > 150 && centre[2] < 110,
                "{name}: {centre:?}"
            );
        }
    }
}

#[test]
fn gif_uses_its_first_frame() {
    // The second frame is solid blue; the first has a white corner.
    let image = decode(&read("good", "animated.gif"), "animated.gif").unwrap();
    assert!(image.0[..3].iter().all(|c| *c > 240));
}

#[test]
fn bad_files_are_errors_that_name_the_file_and_the_problem() {
    let cases = [
        ("notes.png", "not a readable image"),
        ("empty.png", "empty"),
        ("truncated.png", "not a readable image"),
        ("tiny.png", "1x1"),
        ("huge.png", "20000x20000"),
    ];
    for (name, expected) in cases {
        let err = decode(&read("bad", name), name).expect_err(name);
        let message = err.to_string();
        assert!(message.starts_with(name), "{message}");
        assert!(message.contains(expected), "{name}: {message}");
    }
}

#[test]
fn a_folder_with_bad_files_keeps_the_good_ones_and_lists_the_rest() {
    let dir = tempdir("mixed");
    for name in ["rgba.png", "photo.jpg"] {
        std::fs::copy(fixtures("good").join(name), dir.join(name)).unwrap();
    }
    for name in ["notes.png", "empty.png", "huge.png"] {
        std::fs::copy(fixtures("bad").join(name), dir.join(name)).unwrap();
    }
    let (images, skipped) = load_folder(&dir).unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(skipped.len(), 3);
    assert!(skipped.iter().any(|e| e.to_string().contains("huge.png")));
}

#[test]
fn a_folder_without_images_is_an_error() {
    let dir = tempdir("empty");
    std::fs::write(dir.join("readme.txt"), "no pictures here").unwrap();
    assert!(matches!(load_folder(&dir), Err(Error::NoImages(_))));
    assert!(matches!(
        load_folder(&dir.join("missing")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn fluent_svgs_load_with_names_and_tones_and_a_bad_one_names_its_file() {
    let dir = tempdir("fluent");
    let flat = dir.join("icons/flat");
    std::fs::create_dir_all(&flat).unwrap();
    let square = |colour: &str| {
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path fill="{colour}" d="M4 4h24v24H4z"/></svg>"#
        )
    };
    for (name, colour) in [
        ("grinning-face", "#ffb000"),
        ("thumbs-up-default", "#ffc83d"),
        ("thumbs-up-medium-dark", "#8a5a3b"),
        ("thumbs-up-medium", "#b07a50"),
        ("vertical-traffic-light", "#3f3f3f"),
    ] {
        std::fs::write(flat.join(format!("{name}.svg")), square(colour)).unwrap();
    }
    std::fs::write(flat.join("notes.txt"), "not an emoji").unwrap();
    let data = latentpad::data::load_fluent(&dir).unwrap();
    let found: Vec<(&str, &str, Option<u8>, bool)> = data
        .train
        .iter()
        .map(|e| {
            (
                e.name.as_str(),
                e.short_name.as_str(),
                e.skin_tone,
                e.has_skin_tones,
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("grinning-face", "grinning_face", None, false),
            ("thumbs-up-default", "thumbs_up", None, true),
            // File order: "-medium-dark.svg" sorts before "-medium.svg".
            ("thumbs-up-medium-dark", "thumbs_up", Some(4), true),
            ("thumbs-up-medium", "thumbs_up", Some(3), true),
            // No `vertical-traffic-default`: "-light" is part of the name, not a tone.
            (
                "vertical-traffic-light",
                "vertical_traffic_light",
                None,
                false
            ),
        ]
    );
    // Drawn, not blank: the square's colour in the middle, white in the corner.
    let image = &data.train[0].image.0;
    assert_eq!(&image[(32 * 64 + 32) * 3..][..3], &[0xff, 0xb0, 0x00]);
    assert_eq!(&image[..3], &[255, 255, 255]);
    assert!(data.held_out.is_empty());

    std::fs::write(flat.join("broken.svg"), "<svg><path").unwrap();
    let err = latentpad::data::load_fluent(&dir).unwrap_err();
    assert!(err.to_string().contains("broken.svg"), "{err}");
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("latentpad-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
