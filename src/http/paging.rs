//! RFC 8288 `Link` headers for paged listings.

use axum::http::HeaderValue;

/// `first`, `prev`, `next` and `last` links for `path`, keeping every query parameter but
/// `page`.
pub fn link_header(
    path: &str,
    query: Option<&str>,
    page: i64,
    total_pages: i64,
) -> Option<HeaderValue> {
    let kept: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(key, _)| key != "page")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let url = |page: i64| {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &kept {
            serializer.append_pair(key, value);
        }
        serializer.append_pair("page", &page.to_string());
        format!("<{path}?{}>", serializer.finish())
    };
    let last = total_pages.max(1);
    let mut links = vec![format!("{}; rel=\"first\"", url(1))];
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", url((page - 1).min(last))));
    }
    if page < total_pages {
        links.push(format!("{}; rel=\"next\"", url(page + 1)));
    }
    links.push(format!("{}; rel=\"last\"", url(last)));
    HeaderValue::from_str(&links.join(", ")).ok()
}

#[cfg(test)]
mod tests {
    use super::link_header;

    fn links(query: Option<&str>, page: i64, total_pages: i64) -> String {
        link_header("/api/v1/users", query, page, total_pages)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_default()
    }

    #[test]
    fn middle_pages_link_everywhere_and_keep_filters() {
        let header = links(Some("role=user&page=2&q=ada%20l"), 2, 3);
        assert_eq!(
            header,
            "</api/v1/users?role=user&q=ada+l&page=1>; rel=\"first\", </api/v1/users?role=user&q=ada+l&page=1>; rel=\"prev\", \
             </api/v1/users?role=user&q=ada+l&page=3>; rel=\"next\", </api/v1/users?role=user&q=ada+l&page=3>; rel=\"last\""
        );
    }

    #[test]
    fn edges_omit_what_does_not_exist() {
        assert!(!links(None, 1, 3).contains("rel=\"prev\""));
        assert!(!links(None, 3, 3).contains("rel=\"next\""));
        let past = links(None, 9, 3);
        assert!(past.contains("page=3>; rel=\"prev\""), "{past}");
        assert!(links(None, 1, 0).contains("page=1>; rel=\"last\""));
    }
}
