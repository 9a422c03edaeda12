//! The SMTP mailer against a real SMTP server (aiosmtpd) that refuses some mail as real
//! servers do: a hard bounce, a refused sender (the shop's settings), a full mailbox.

use kefu_channels::email::{MailError, Mailer, Outgoing, Security, SmtpConfig, build};

use crate::smtp::Smtp;

fn mail<'a>(from: &'a str, to: &'a str) -> Outgoing<'a> {
    Outgoing {
        from,
        to,
        subject: "Spring teas",
        text: "The first flush is in.\n".into(),
        html: "<p>The first flush is in.</p>".into(),
        message_id: format!("<kefu.test.{to}@lotus.example>"),
        unsubscribe: Some("https://shop.example/u/1.abc"),
        headers: vec![("X-Kefu-Campaign", "spring".into())],
    }
}

#[tokio::test]
async fn replies_are_sorted_into_delivered_bounced_retried_and_refused() {
    let Some(smtp) = Smtp::start_picky() else {
        return;
    };
    let mailer = Mailer::new(&SmtpConfig {
        host: "127.0.0.1".into(),
        port: smtp.port,
        security: Security::None,
        username: None,
        password: None,
        connections: 2,
        per_second: 100,
    })
    .unwrap();
    let send = |from: &'static str, to: &'static str| {
        let mailer = mailer.clone();
        async move { mailer.send(build(&mail(from, to)).unwrap()).await }
    };
    let ok = send("news@lotus.example", "mei@example.com").await.unwrap();
    assert!(ok.starts_with("250"), "{ok}");
    let stored = smtp.messages();
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{}",
        stored[0]
    );
    match send("news@lotus.example", "gone@example.com").await {
        Err(MailError::Rejected(reason)) => assert!(reason.contains("5.1.1"), "{reason}"),
        other => panic!("an unknown mailbox is a hard bounce: {other:?}"),
    }
    match send("spoofed@lotus.example", "mei@example.com").await {
        Err(MailError::Transient(reason)) => {
            assert!(reason.contains("check [email]"), "{reason}")
        }
        other => panic!("a refused sender is the shop's settings, not the customer: {other:?}"),
    }
    assert!(matches!(
        send("news@lotus.example", "full@example.com").await,
        Err(MailError::Transient(_))
    ));
    assert!(matches!(
        build(&mail("news@lotus.example", "not an address")),
        Err(MailError::Permanent(_))
    ));
    assert_eq!(smtp.messages().len(), 1, "nothing refused was stored");
}
