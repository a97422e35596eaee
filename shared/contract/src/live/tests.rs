use super::*;

#[test]
fn topics_match_types_and_single_entities() {
    let t = Topics::parse(&["order", "menu-item:pho-bo"]).unwrap();
    assert!(t.matches("order:7f3c"));
    assert!(t.matches("order"));
    assert!(t.matches("menu-item:pho-bo"));
    assert!(!t.matches("menu-item:pho-ga"));
    assert!(!t.matches("orders:1"), "a type matches whole segments only");
    assert!(!t.matches("cart:alice"));
    assert!(Topics::default().matches("anything:at-all"));
    assert_eq!(
        Topics::parse_list("order,,cart").unwrap().as_slice(),
        ["order", "cart"]
    );
}

#[test]
fn bad_topics_are_named() {
    for bad in [
        "",
        "Order",
        "order:",
        ":x",
        "order:a,b",
        "order:a b",
        &"x".repeat(201),
    ] {
        let err = Topics::parse(&[bad]).unwrap_err();
        assert!(err.contains(&format!("{bad:?}")), "{err}");
    }
    let many: Vec<String> = (0..=MAX_TOPICS).map(|i| format!("order:{i}")).collect();
    assert!(Topics::parse(&many).unwrap_err().contains("at most"));
}

#[test]
fn messages_have_the_documented_shape() {
    let hello: ClientMessage =
        serde_json::from_str(r#"{"type":"hello","token":"t","after":7,"topics":["order"],"x":1}"#)
            .unwrap();
    assert_eq!(
        hello,
        ClientMessage::Hello {
            token: "t".into(),
            after: Some(7),
            topics: vec!["order".into()]
        }
    );
    let bare: ClientMessage = serde_json::from_str(r#"{"type":"hello","token":"t"}"#).unwrap();
    assert_eq!(
        bare,
        ClientMessage::Hello {
            token: "t".into(),
            after: None,
            topics: vec![]
        }
    );
    assert_eq!(
        serde_json::to_string(&ServerMessage::CaughtUp { cursor: 3 }).unwrap(),
        r#"{"type":"caught-up","cursor":3}"#
    );
    assert_eq!(
        serde_json::to_string(&Resume { resume: 9 }).unwrap(),
        r#"{"resume":9}"#
    );
}

#[test]
fn the_cursor_drops_repeats_at_the_seam() {
    let mut c = Cursor(5);
    let got: Vec<i64> = [4, 5, 6, 6, 7, 9, 8]
        .into_iter()
        .filter(|&s| c.accept(s))
        .collect();
    assert_eq!(got, [6, 7, 9]);
    assert_eq!(c, Cursor(9));
}

#[test]
fn sockets_are_retried_then_polling_takes_over_and_sockets_get_another_chance() {
    let mut p = LinkPolicy::default();
    assert_eq!(p.next(0.0, 0.0), Attempt::Socket { delay_ms: 0 });
    p.socket_failed(false);
    assert!(
        matches!(p.next(0.0, 0.0), Attempt::Socket { delay_ms } if (500..=1000).contains(&delay_ms))
    );
    p.socket_failed(false);
    assert!(matches!(p.next(0.0, 0.0), Attempt::Socket { .. }));
    p.socket_failed(false);
    assert_eq!(p.next(0.0, 0.0), Attempt::Poll { delay_ms: 0 });
    assert_eq!(p.mode(false), LinkMode::Offline, "no poll has answered yet");
    p.poll_ok(1_000.0);
    assert_eq!(p.mode(false), LinkMode::Polling);
    assert_eq!(p.next(30_000.0, 0.0), Attempt::Poll { delay_ms: 0 });
    // A minute of working polls: one socket attempt, and straight back to polling if it fails.
    assert_eq!(p.next(61_000.0, 0.0), Attempt::Socket { delay_ms: 0 });
    p.socket_failed(false);
    assert_eq!(p.next(61_100.0, 0.0), Attempt::Poll { delay_ms: 0 });
    // Polls failing back off.
    p.poll_failed();
    p.poll_failed();
    assert!(matches!(p.next(62_000.0, 0.0), Attempt::Poll { delay_ms } if delay_ms >= 1000));
    assert_eq!(p.mode(false), LinkMode::Offline);
    // A socket that worked and then dropped (a server restart) is retried at once.
    p.socket_ready();
    assert_eq!(p.mode(true), LinkMode::Live);
    p.socket_failed(true);
    assert!(matches!(p.next(70_000.0, 0.0), Attempt::Socket { delay_ms } if delay_ms <= 1000));
}

#[test]
fn link_modes_are_named_as_serde_names_them() {
    for mode in [LinkMode::Live, LinkMode::Polling, LinkMode::Offline] {
        assert_eq!(
            serde_json::to_string(&mode).unwrap(),
            format!("\"{}\"", mode.as_str())
        );
        assert_eq!(LinkMode::parse(mode.as_str()), Some(mode));
    }
    assert_eq!(LinkMode::parse("Live"), None);
}
