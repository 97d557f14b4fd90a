//! Avatar images: checks and re-encoding on a small bounded pool off the async runtime. The content decides the format; limits on dimensions and
//! allocation are set before any pixel is decoded, so a small file that declares a huge
//! image (a decompression bomb) is refused without the memory it asks for.

use std::io::Cursor;
use std::sync::Arc;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits};
use tokio::sync::Semaphore;

/// Decodes at most this many images at once: decoding is CPU- and memory-heavy.
pub const CONCURRENT_DECODES: usize = 2;

/// A bounded pool for image work, off the async runtime.
#[derive(Clone)]
pub struct ImageWorkers(Arc<Semaphore>);

impl Default for ImageWorkers {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(CONCURRENT_DECODES)))
    }
}

impl ImageWorkers {
    /// Checks and re-encodes an upload on a blocking thread, at most
    /// [`CONCURRENT_DECODES`] at a time.
    pub async fn process(&self, upload: Vec<u8>) -> Result<Processed, UploadError> {
        let _permit = self
            .0
            .acquire()
            .await
            .map_err(|e| UploadError::Failed(e.to_string()))?;
        tokio::task::spawn_blocking(move || process(&upload))
            .await
            .map_err(|e| UploadError::Failed(e.to_string()))?
    }
}

/// Largest accepted upload.
pub const MAX_UPLOAD_BYTES: usize = 2 * 1024 * 1024;
/// Largest stored side, in pixels.
pub const MAX_SIDE: u32 = 512;
/// Largest accepted declared side, in pixels.
pub const MAX_DECLARED_SIDE: u32 = 10_000;
/// Most memory a decoder may allocate.
pub const MAX_DECODE_ALLOC: u64 = 64 * 1024 * 1024;

/// An accepted, re-encoded image.
#[derive(Debug)]
pub struct Processed {
    pub content_type: &'static str,
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Why an upload is refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("not a PNG, JPEG or WebP image")]
    Unsupported,
    #[error("the image is too large")]
    TooLarge,
    /// Decoding or encoding failed for another reason than the input (a bug).
    #[error("image processing failed: {0}")]
    Failed(String),
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECLARED_SIDE);
    limits.max_image_height = Some(MAX_DECLARED_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limits
}

/// A reader over an upload, with the format its content shows.
type Probed<'a> = (ImageReader<Cursor<&'a [u8]>>, ImageFormat);

fn reader(bytes: &[u8]) -> Result<Probed<'_>, UploadError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| UploadError::Unsupported)?;
    match reader.format() {
        Some(format @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP)) => {
            Ok((reader, format))
        }
        _ => Err(UploadError::Unsupported),
    }
}

fn classify(error: ImageError) -> UploadError {
    match error {
        ImageError::Limits(_) => UploadError::TooLarge,
        _ => UploadError::Unsupported,
    }
}

/// Decodes, scales to fit 512x512 (never up), and re-encodes in the same format.
pub fn process(bytes: &[u8]) -> Result<Processed, UploadError> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(UploadError::TooLarge);
    }
    // Dimensions first, from the header alone.
    let (mut probe, _) = reader(bytes)?;
    probe.limits(limits());
    let (width, height) = probe.into_dimensions().map_err(classify)?;
    if width > MAX_DECLARED_SIDE || height > MAX_DECLARED_SIDE {
        return Err(UploadError::TooLarge);
    }
    let (mut decoder, format) = reader(bytes)?;
    decoder.limits(limits());
    let image = decoder.decode().map_err(classify)?;
    let image = if image.width() > MAX_SIDE || image.height() > MAX_SIDE {
        image.resize(MAX_SIDE, MAX_SIDE, FilterType::Triangle)
    } else {
        image
    };
    let (data, content_type) = encode(&image, format)?;
    Ok(Processed {
        content_type,
        data,
        width: image.width(),
        height: image.height(),
    })
}

/// Encodes pixels only: none of the original file's metadata (EXIF, GPS, ICC, XMP,
/// comments) is carried over.
fn encode(
    image: &DynamicImage,
    format: ImageFormat,
) -> Result<(Vec<u8>, &'static str), UploadError> {
    let mut out = Vec::new();
    let encoded = match format {
        ImageFormat::Jpeg => {
            let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
            rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut out, 85))
                .map(|()| "image/jpeg")
        }
        ImageFormat::WebP => {
            let rgba = DynamicImage::ImageRgba8(image.to_rgba8());
            rgba.write_with_encoder(WebPEncoder::new_lossless(&mut out))
                .map(|()| "image/webp")
        }
        _ => {
            let normalised = match image {
                DynamicImage::ImageLuma8(_)
                | DynamicImage::ImageLumaA8(_)
                | DynamicImage::ImageRgb8(_) => image.clone(),
                _ => DynamicImage::ImageRgba8(image.to_rgba8()),
            };
            normalised
                .write_with_encoder(PngEncoder::new(&mut out))
                .map(|()| "image/png")
        }
    };
    let content_type = encoded.map_err(|e| UploadError::Failed(e.to_string()))?;
    Ok((out, content_type))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb, Rgba};

    /// CRC-32 of PNG chunks, so that a patched header is still a valid one.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFF_u32;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A valid 1x1 PNG whose header declares `side` x `side` pixels (a decompression bomb).
    fn declaring(mut png: Vec<u8>, side: u32) -> Vec<u8> {
        png[16..20].copy_from_slice(&side.to_be_bytes());
        png[20..24].copy_from_slice(&side.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        png
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = ImageBuffer::from_fn(width, height, |x, y| {
            Rgba([(x % 256) as u8, (y % 256) as u8, 90, 255])
        });
        let mut out = Vec::new();
        let written = DynamicImage::ImageRgba8(img).write_with_encoder(PngEncoder::new(&mut out));
        assert!(written.is_ok());
        out
    }

    #[test]
    fn large_images_are_scaled_to_fit_keeping_their_ratio() {
        let Ok(processed) = process(&png(1024, 256)) else {
            panic!("valid png")
        };
        assert_eq!((processed.width, processed.height), (512, 128));
        assert_eq!(processed.content_type, "image/png");
        let Ok(small) = process(&png(40, 30)) else {
            panic!("valid png")
        };
        assert_eq!((small.width, small.height), (40, 30), "never scaled up");
    }

    #[test]
    fn jpeg_stays_jpeg_and_webp_stays_webp() {
        let img =
            DynamicImage::ImageRgb8(ImageBuffer::from_fn(64, 64, |x, _| Rgb([x as u8, 0, 0])));
        let mut jpeg = Vec::new();
        assert!(
            img.write_with_encoder(JpegEncoder::new_with_quality(&mut jpeg, 90))
                .is_ok()
        );
        assert_eq!(
            process(&jpeg).map(|p| p.content_type).ok(),
            Some("image/jpeg")
        );
        let mut webp = Vec::new();
        assert!(
            DynamicImage::ImageRgba8(img.to_rgba8())
                .write_with_encoder(WebPEncoder::new_lossless(&mut webp))
                .is_ok()
        );
        assert_eq!(
            process(&webp).map(|p| p.content_type).ok(),
            Some("image/webp")
        );
    }

    #[test]
    fn garbage_and_other_formats_are_unsupported() {
        let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
        fake.extend_from_slice(&[0u8; 100]);
        assert!(matches!(process(&fake), Err(UploadError::Unsupported)));
        assert!(matches!(
            process(b"GIF89a......"),
            Err(UploadError::Unsupported)
        ));
        assert!(matches!(process(b"hello"), Err(UploadError::Unsupported)));
    }

    #[test]
    fn huge_declared_dimensions_are_refused_before_decoding() {
        // A header with a correct checksum declaring 100000 x 100000 pixels over one pixel
        // of data: refused as too large from the header alone.
        let result = process(&declaring(png(1, 1), 100_000));
        assert!(matches!(result, Err(UploadError::TooLarge)), "{result:?}");
        let within = process(&declaring(png(1, 1), 600));
        assert!(
            matches!(within, Err(UploadError::Unsupported)),
            "declared 600x600, data for 1x1: {within:?}"
        );
    }
}
