//! Avatars with real images made in the test: PNG, JPEG with EXIF GPS data, WebP, and
//! the hostile ones.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageBuffer, Rgb, Rgba};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Actor, TestApp, count, problem};

fn picture(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgba8(ImageBuffer::from_fn(width, height, |x, y| {
        Rgba([(x * 7 % 256) as u8, (y * 3 % 256) as u8, 128, 255])
    }))
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    picture(width, height)
        .write_with_encoder(PngEncoder::new(&mut out))
        .expect("png");
    out
}

/// A JPEG with an EXIF segment holding GPS coordinates, as a phone would write it.
fn jpeg_with_gps() -> Vec<u8> {
    let rgb = DynamicImage::ImageRgb8(ImageBuffer::from_fn(64, 48, |x, _| {
        Rgb([x as u8 * 3, 40, 200])
    }));
    let mut plain = Vec::new();
    rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut plain, 90))
        .expect("jpeg");
    // APP1 "Exif": a big-endian TIFF header, one IFD entry (GPSInfo) and a marker string.
    let mut exif =
        b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x88\x25\0\x04\0\0\0\x01\0\0\0\x1a\0\0\0\0".to_vec();
    exif.extend_from_slice(b"GPSLatitude 51.5007N GPSLongitude 0.1246W");
    let length = u16::try_from(exif.len() + 2).expect("small segment");
    let mut with_exif = plain[..2].to_vec();
    with_exif.extend_from_slice(&[0xFF, 0xE1]);
    with_exif.extend_from_slice(&length.to_be_bytes());
    with_exif.extend_from_slice(&exif);
    with_exif.extend_from_slice(&plain[2..]);
    with_exif
}

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

fn webp() -> Vec<u8> {
    let mut out = Vec::new();
    picture(30, 20)
        .write_with_encoder(WebPEncoder::new_lossless(&mut out))
        .expect("webp");
    out
}

async fn upload(
    app: &TestApp,
    who: &Actor,
    content_type: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.client
        .put(app.url("/api/v1/users/me/avatar"))
        .bearer_auth(&who.token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("send")
}

async fn setup() -> (TestApp, Actor) {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.member(&admin, "ada@example.com", "user").await;
    (app, ada)
}

#[tokio::test]
async fn a_png_is_scaled_stored_and_served_with_caching_headers() {
    let (app, ada) = setup().await;
    let response = upload(&app, &ada, "image/png", png(1200, 600)).await;
    assert_eq!(response.status(), 200);
    let user: Value = response.json().await.expect("json");
    let url = user["avatar_url"].as_str().unwrap_or_default().to_owned();
    assert_eq!(url, format!("/api/v1/users/{}/avatar", ada.id));

    let served = app.get(&url).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert!(
        served.headers()["cache-control"]
            .to_str()
            .unwrap_or_default()
            .contains("max-age")
    );
    let etag = served.headers()["etag"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let bytes = served.bytes().await.expect("bytes");
    let decoded = image::load_from_memory(&bytes).expect("a valid image");
    assert_eq!(
        (decoded.width(), decoded.height()),
        (512, 256),
        "fits 512x512, ratio kept"
    );

    let cached = app
        .client
        .get(app.url(&url))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("send");
    assert_eq!(cached.status(), 304);
    assert_eq!(cached.headers()["etag"], etag.as_str());
    let stale = app
        .client
        .get(app.url(&url))
        .header("if-none-match", "\"other\"")
        .send()
        .await
        .expect("send");
    assert_eq!(stale.status(), 200);

    let me: Value = app
        .get_as("/api/v1/users/me", &ada.token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["avatar_url"], url.as_str());
    assert_eq!(
        app.send(
            Method::DELETE,
            "/api/v1/users/me/avatar",
            Some(&ada.token),
            None
        )
        .await
        .status(),
        204
    );
    problem(app.get(&url).await, 404, "not_found").await;
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE action LIKE 'user.avatar%' ORDER BY occurred_at",
    )
    .fetch_all(&app.pool)
    .await
    .expect("audit");
    assert_eq!(actions, ["user.avatar_updated", "user.avatar_removed"]);
}

#[tokio::test]
async fn jpeg_metadata_does_not_survive() {
    let (app, ada) = setup().await;
    let original = jpeg_with_gps();
    assert!(
        original.windows(11).any(|w| w == b"GPSLatitude"),
        "the test image carries GPS data"
    );
    // The header says PNG; the content decides.
    let response = upload(&app, &ada, "image/png", original).await;
    assert_eq!(response.status(), 200);
    let served = app.get(&format!("/api/v1/users/{}/avatar", ada.id)).await;
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    let bytes = served.bytes().await.expect("bytes");
    assert!(!bytes.windows(4).any(|w| w == b"Exif"), "no EXIF segment");
    assert!(!bytes.windows(3).any(|w| w == b"GPS"));
    assert!(image::load_from_memory(&bytes).is_ok());
}

#[tokio::test]
async fn webp_is_accepted() {
    let (app, ada) = setup().await;
    assert_eq!(upload(&app, &ada, "image/webp", webp()).await.status(), 200);
    let served = app.get(&format!("/api/v1/users/{}/avatar", ada.id)).await;
    assert_eq!(served.headers()["content-type"], "image/webp");
}

#[tokio::test]
async fn hostile_uploads_are_refused_with_the_right_status() {
    let (app, ada) = setup().await;
    let mut fake_png = b"\x89PNG\r\n\x1a\n".to_vec();
    fake_png.extend_from_slice(&[0x42; 4096]);
    problem(
        upload(&app, &ada, "image/png", fake_png).await,
        415,
        "unsupported_media_type",
    )
    .await;
    problem(
        upload(&app, &ada, "text/plain", png(10, 10)).await,
        415,
        "unsupported_media_type",
    )
    .await;
    problem(
        upload(&app, &ada, "image/gif", b"GIF89a\x01\x00\x01\x00".to_vec()).await,
        415,
        "unsupported_media_type",
    )
    .await;

    // 3 MiB: refused from its declared length, before the body is read.
    problem(
        upload(&app, &ada, "image/png", vec![0u8; 3 * 1024 * 1024]).await,
        413,
        "payload_too_large",
    )
    .await;

    // A decompression bomb: a valid tiny PNG whose header declares 50000 x 50000 pixels.
    let bomb = declaring(png(1, 1), 50_000);
    problem(
        upload(&app, &ada, "image/png", bomb).await,
        413,
        "payload_too_large",
    )
    .await;

    let me: Value = app
        .get_as("/api/v1/users/me", &ada.token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["avatar_url"], Value::Null, "nothing was stored");
    let stored = count(&app.pool, "SELECT count(*) FROM avatars").await;
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn avatars_of_deactivated_users_are_not_served() {
    let (app, ada) = setup().await;
    assert_eq!(
        upload(&app, &ada, "image/png", png(8, 8)).await.status(),
        200
    );
    sqlx::query(
        "UPDATE users SET status = 'deactivated', deactivated_at = now() WHERE id = $1::uuid",
    )
    .bind(&ada.id)
    .execute(&app.pool)
    .await
    .expect("deactivate");
    problem(
        app.get(&format!("/api/v1/users/{}/avatar", ada.id)).await,
        404,
        "not_found",
    )
    .await;
    problem(
        app.get("/api/v1/users/not-a-uuid/avatar").await,
        404,
        "not_found",
    )
    .await;
}
