//! The one home of pixels: decoding uploads and data-set files, compositing transparency,
//! cropping and resizing to the model's size, and converting between RGB bytes and
//! `[-1, 1]` tensors in both directions.

use std::io::Cursor;

use burn::prelude::*;
use image::{DynamicImage, ImageReader, Limits, RgbImage, imageops::FilterType};

use crate::backend::read_f32;
use crate::limits::{MAX_SIDE, MIN_SIDE};
use crate::{Error, Result};

/// Side of every image the models see.
pub const IMAGE_SIZE: usize = 64;
/// Bytes in one RGB image of [`IMAGE_SIZE`].
pub const RGB_LEN: usize = IMAGE_SIZE * IMAGE_SIZE * 3;

/// One image at the model's size: `IMAGE_SIZE * IMAGE_SIZE` RGB pixels, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb64(pub Vec<u8>);

impl Rgb64 {
    /// The pixels as opaque RGBA bytes.
    pub fn to_rgba(&self) -> Vec<u8> {
        self.0
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect()
    }
}

/// Bytes in one RGBA image of [`IMAGE_SIZE`].
pub const RGBA_LEN: usize = IMAGE_SIZE * IMAGE_SIZE * 4;

/// Whole [`IMAGE_SIZE`] RGBA images (`n * RGBA_LEN` bytes, alpha ignored) as [`Rgb64`]s.
pub fn from_rgba(rgba: &[u8]) -> Result<Vec<Rgb64>> {
    if rgba.is_empty() || !rgba.len().is_multiple_of(RGBA_LEN) {
        return Err(Error::Shape {
            what: "RGBA images",
            expected: vec![IMAGE_SIZE, IMAGE_SIZE, 4],
            actual: vec![rgba.len()],
        });
    }
    Ok(rgba
        .chunks(RGBA_LEN)
        .map(|px| Rgb64(px.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect()))
        .collect())
}

/// Decodes PNG, JPEG, WebP or GIF (first frame) bytes, composites any transparency onto
/// white, center-crops to a square and resizes to [`IMAGE_SIZE`].
///
/// `source_name` names the input in error messages (a file name or an upload's name).
pub fn decode(bytes: &[u8], source_name: &str) -> Result<Rgb64> {
    let fail = |reason: String| Error::Decode {
        source_name: source_name.to_string(),
        reason,
    };
    if bytes.is_empty() {
        return Err(fail("the file is empty".into()));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fail(e.to_string()))?;
    if reader.format().is_none() {
        return Err(fail("unknown format; use PNG, JPEG, WebP or GIF".into()));
    }
    let (width, height) = reader.into_dimensions().map_err(|e| fail(e.to_string()))?;
    let size_error = |reason| Error::ImageSize {
        source_name: source_name.to_string(),
        width,
        height,
        reason,
    };
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(size_error("larger than 8192 pixels on a side"));
    }
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(size_error("smaller than 16 pixels on a side"));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fail(e.to_string()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| fail(e.to_string()))?;
    Ok(fit(&image))
}

/// Renders SVG bytes (an emoji drawing: paths, no text) scaled to fit [`IMAGE_SIZE`] and
/// centred, composited onto white like [`decode`]'s images. Native only (resvg).
#[cfg(not(target_arch = "wasm32"))]
pub fn rasterize_svg(bytes: &[u8], source_name: &str) -> Result<Rgb64> {
    use resvg::{tiny_skia, usvg};
    let fail = |reason: String| Error::Decode {
        source_name: source_name.to_string(),
        reason,
    };
    let tree = usvg::Tree::from_data(bytes, &usvg::Options::default())
        .map_err(|e| fail(format!("not a usable SVG: {e}")))?;
    let side = IMAGE_SIZE as f32;
    let size = tree.size();
    let scale = side / size.width().max(size.height());
    let offset = |extent: f32| (side - extent * scale) / 2.0;
    let transform = tiny_skia::Transform::from_scale(scale, scale)
        .post_translate(offset(size.width()), offset(size.height()));
    let mut pixmap = tiny_skia::Pixmap::new(IMAGE_SIZE as u32, IMAGE_SIZE as u32)
        .ok_or_else(|| fail("no pixmap".into()))?;
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    // tiny-skia keeps premultiplied alpha; `fit` composites straight alpha onto white.
    let rgba: Vec<u8> = pixmap
        .pixels()
        .iter()
        .flat_map(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue(), c.alpha()]
        })
        .collect();
    let image = image::RgbaImage::from_raw(IMAGE_SIZE as u32, IMAGE_SIZE as u32, rgba)
        .ok_or_else(|| fail("pixmap size".into()))?;
    Ok(fit(&DynamicImage::ImageRgba8(image)))
}

/// Composites onto white, center-crops to a square and resizes to [`IMAGE_SIZE`].
pub fn fit(image: &DynamicImage) -> Rgb64 {
    let rgba = image.to_rgba8();
    let (w, h) = rgba.dimensions();
    let side = w.min(h);
    let (x0, y0) = ((w - side) / 2, (h - side) / 2);
    let mut square = RgbImage::new(side, side);
    for (x, y, px) in square.enumerate_pixels_mut() {
        let [r, g, b, a] = rgba.get_pixel(x0 + x, y0 + y).0;
        let a = a as u32;
        // Emoji are drawn on transparency; white is how people see them in text.
        let over_white = |c: u8| ((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        px.0 = [over_white(r), over_white(g), over_white(b)];
    }
    let target = IMAGE_SIZE as u32;
    let square = if side == target {
        square
    } else {
        image::imageops::resize(&square, target, target, FilterType::CatmullRom)
    };
    Rgb64(square.into_raw())
}

/// Stacks images into a `[n, 3, 64, 64]` tensor with values in `[-1, 1]`.
pub fn to_tensor(images: &[&Rgb64], device: &Device) -> Tensor<4> {
    let plane = IMAGE_SIZE * IMAGE_SIZE;
    let mut values = vec![0f32; images.len() * RGB_LEN];
    for (i, image) in images.iter().enumerate() {
        let out = &mut values[i * RGB_LEN..(i + 1) * RGB_LEN];
        for (p, rgb) in image.0.chunks_exact(3).enumerate() {
            for c in 0..3 {
                out[c * plane + p] = rgb[c] as f32 / 127.5 - 1.0;
            }
        }
    }
    Tensor::from_data(
        TensorData::new(values, [images.len(), 3, IMAGE_SIZE, IMAGE_SIZE]),
        device,
    )
}

/// Reads a `[n, 3, 64, 64]` tensor in `[-1, 1]` back as `n` RGBA images (alpha 255),
/// `n * 64 * 64 * 4` bytes: the layout of a browser's `ImageData`.
pub async fn to_rgba(images: Tensor<4>) -> Result<Vec<u8>> {
    let dims = images.dims();
    if dims[1..] != [3, IMAGE_SIZE, IMAGE_SIZE] {
        return Err(Error::Shape {
            what: "images",
            expected: vec![dims[0], 3, IMAGE_SIZE, IMAGE_SIZE],
            actual: dims.to_vec(),
        });
    }
    let values = read_f32(images).await?;
    Ok(planar_to_rgba(&values, dims[0]))
}

/// `[n, 3, 64, 64]` planar floats in `[-1, 1]` to interleaved RGBA bytes.
pub fn planar_to_rgba(values: &[f32], n: usize) -> Vec<u8> {
    let plane = IMAGE_SIZE * IMAGE_SIZE;
    let mut out = vec![255u8; n * plane * 4];
    for i in 0..n {
        let src = &values[i * 3 * plane..(i + 1) * 3 * plane];
        let dst = &mut out[i * plane * 4..(i + 1) * plane * 4];
        for p in 0..plane {
            for c in 0..3 {
                let v = (src[c * plane + p] + 1.0) * 127.5;
                dst[p * 4 + c] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Lays `n` RGBA images out in a grid of `columns`, with a 2-pixel white gutter.
pub fn grid(rgba: &[u8], n: usize, columns: usize) -> image::RgbaImage {
    let columns = columns.clamp(1, n.max(1));
    let rows = n.div_ceil(columns);
    let (s, gap) = (IMAGE_SIZE as u32, 2u32);
    let width = columns as u32 * (s + gap) + gap;
    let height = rows as u32 * (s + gap) + gap;
    let mut canvas = image::RgbaImage::from_pixel(width, height, image::Rgba([255, 255, 255, 255]));
    for i in 0..n {
        let (gx, gy) = ((i % columns) as u32, (i / columns) as u32);
        let tile = &rgba[i * (s * s * 4) as usize..(i + 1) * (s * s * 4) as usize];
        for y in 0..s {
            for x in 0..s {
                let k = ((y * s + x) * 4) as usize;
                canvas.put_pixel(
                    gap + gx * (s + gap) + x,
                    gap + gy * (s + gap) + y,
                    image::Rgba([tile[k], tile[k + 1], tile[k + 2], tile[k + 3]]),
                );
            }
        }
    }
    canvas
}

/// Where an image came from; written as text chunks into every PNG latentpad makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// Model name from its weights file ("emoji-gan").
    pub model: String,
    /// Whether the model was fine-tuned from a shipped one.
    pub fine_tuned: bool,
    /// The seed(s) or latent walk behind the image ("seeds 7 to 70").
    pub latent: String,
}

impl Provenance {
    /// The provenance of images from the model whose weights carry `meta`, made from `latent`.
    pub fn of(meta: &crate::weights::WeightsMeta, latent: String) -> Self {
        Self {
            model: meta.name.clone(),
            fine_tuned: meta.fine_tuned,
            latent,
        }
    }

    /// The (keyword, text) pairs written into a PNG.
    pub fn chunks(&self) -> Vec<(String, String)> {
        vec![
            ("Software".into(), crate::weights::software()),
            (
                "Description".into(),
                "AI-generated image made with latentpad".into(),
            ),
            ("latentpad-model".into(), self.model.clone()),
            (
                "latentpad-fine-tuned".into(),
                if self.fine_tuned { "yes" } else { "no" }.into(),
            ),
            ("latentpad-latent".into(), self.latent.clone()),
        ]
    }
}

/// Encodes RGBA pixels as PNG bytes carrying the provenance as `tEXt` chunks.
pub fn encode_png(
    rgba: &[u8],
    width: u32,
    height: u32,
    provenance: &Provenance,
) -> Result<Vec<u8>> {
    let fail = |e: png::EncodingError| Error::Backend {
        during: "PNG encoding",
        reason: e.to_string(),
    };
    if rgba.len() != (width * height * 4) as usize {
        return Err(Error::Shape {
            what: "RGBA pixels",
            expected: vec![height as usize, width as usize, 4],
            actual: vec![rgba.len()],
        });
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    for (keyword, text) in provenance.chunks() {
        // tEXt is Latin-1: anything else is replaced rather than written wrongly.
        let text: String = text
            .chars()
            .map(|c| if c.is_ascii() { c } else { '?' })
            .collect();
        encoder.add_text_chunk(keyword, text).map_err(fail)?;
    }
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(rgba).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}

/// A PNG of the first `n` images of `images` (`[n, 3, 64, 64]`, any device) in a grid of
/// `columns`, carrying `provenance` (blocking read: native callers).
#[cfg(not(target_arch = "wasm32"))]
pub fn grid_png(
    images: Tensor<4>,
    n: usize,
    columns: usize,
    provenance: &Provenance,
) -> Result<Vec<u8>> {
    let rgba = pollster::block_on(to_rgba(images))?;
    let canvas = grid(&rgba, n, columns);
    encode_png(canvas.as_raw(), canvas.width(), canvas.height(), provenance)
}

/// The text chunks of a PNG file, in file order.
pub fn png_text(bytes: &[u8], source_name: &str) -> Result<Vec<(String, String)>> {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let reader = decoder.read_info().map_err(|e| Error::Decode {
        source_name: source_name.to_string(),
        reason: e.to_string(),
    })?;
    let info = reader.info();
    let mut out: Vec<(String, String)> = info
        .uncompressed_latin1_text
        .iter()
        .map(|c| (c.keyword.clone(), c.text.clone()))
        .collect();
    for chunk in &info.utf8_text {
        if let Ok(text) = chunk.get_text() {
            out.push((chunk.keyword.clone(), text));
        }
    }
    Ok(out)
}

/// The provenance a latentpad PNG carries (`latentpad provenance`): its text chunks, or an
/// error when the file has none of latentpad's.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_provenance(path: &std::path::Path) -> Result<Vec<(String, String)>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let name = path.display().to_string();
    let chunks = png_text(&bytes, &name)?;
    if !chunks.iter().any(|(k, _)| k.starts_with("latentpad")) {
        return Err(Error::Decode {
            source_name: name,
            reason: "no latentpad provenance in this PNG".into(),
        });
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(image: DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn transparent_pixels_become_white_and_opaque_keep_colour() {
        let mut img = image::RgbaImage::new(64, 64);
        img.put_pixel(0, 0, image::Rgba([10, 20, 30, 255]));
        let out = decode(&png_bytes(DynamicImage::ImageRgba8(img)), "t.png").unwrap();
        assert_eq!(&out.0[0..3], &[10, 20, 30]);
        assert_eq!(&out.0[3..6], &[255, 255, 255]);
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn svgs_are_rasterised_scaled_centred_and_on_white() {
        // A 32x32 drawing (Fluent's view box): a red square over the left half, the rest empty.
        let svg = br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path fill="#ff0000" d="M0 0h16v32H0z"/></svg>"##;
        let out = rasterize_svg(svg, "half.svg").unwrap();
        let px = |x: usize, y: usize| &out.0[(y * IMAGE_SIZE + x) * 3..][..3];
        assert_eq!(px(5, 40), &[255, 0, 0], "left half red");
        assert_eq!(px(60, 10), &[255, 255, 255], "right half white");
        // A wide view box is fitted by its width and centred vertically.
        let wide = br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 32"><path fill="#0000ff" d="M0 0h64v32H0z"/></svg>"##;
        let out = rasterize_svg(wide, "wide.svg").unwrap();
        let px = |x: usize, y: usize| &out.0[(y * IMAGE_SIZE + x) * 3..][..3];
        assert_eq!(px(32, 5), &[255, 255, 255], "above the band");
        assert_eq!(px(32, 32), &[0, 0, 255], "the band");
        let err = rasterize_svg(b"<html>no</html>", "page.svg").unwrap_err();
        assert!(err.to_string().contains("page.svg"), "{err}");
    }

    #[test]
    fn wide_images_are_center_cropped() {
        // 128x64: left quarter red, middle half green, right quarter blue.
        let img = RgbImage::from_fn(128, 64, |x, _| match x {
            0..32 => image::Rgb([255, 0, 0]),
            32..96 => image::Rgb([0, 255, 0]),
            _ => image::Rgb([0, 0, 255]),
        });
        let out = decode(&png_bytes(DynamicImage::ImageRgb8(img)), "wide.png").unwrap();
        assert_eq!(out.0.len(), RGB_LEN);
        assert!(out.0.chunks(3).all(|p| p == [0, 255, 0]));
    }

    #[test]
    fn tensor_round_trip_is_exact() {
        let img = Rgb64((0..RGB_LEN).map(|i| (i * 7 % 256) as u8).collect());
        let t = to_tensor(&[&img], &crate::backend::default_device());
        let rgba = pollster::block_on(to_rgba(t)).unwrap();
        let rgb: Vec<u8> = rgba.chunks(4).flat_map(|p| p[..3].to_vec()).collect();
        assert_eq!(rgb, img.0);
    }

    #[test]
    fn provenance_round_trips_through_png() {
        let p = Provenance {
            model: "emoji-gan".into(),
            fine_tuned: true,
            latent: "seeds 7 to 10".into(),
        };
        let png = encode_png(&vec![200u8; 4 * 4 * 4], 4, 4, &p).unwrap();
        let text = png_text(&png, "t.png").unwrap();
        assert!(text.contains(&("latentpad-model".into(), "emoji-gan".into())));
        assert!(text.contains(&("latentpad-fine-tuned".into(), "yes".into())));
        assert!(text.iter().any(|(_, v)| v.contains("AI-generated")));
        // And it is a normal image.
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!(img.width(), 4);
        assert!(encode_png(&[0u8; 3], 4, 4, &p).is_err());
    }

    #[test]
    fn grid_has_expected_size() {
        let canvas = grid(&vec![0u8; 5 * 64 * 64 * 4], 5, 4);
        assert_eq!(canvas.dimensions(), (4 * 66 + 2, 2 * 66 + 2));
    }
}
