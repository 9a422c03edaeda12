//! Verification that cannot be guessed: one postal code or e-mail address per attempt,
//! failed attempts limited per order across every conversation, per client address and
//! shop-wide, the same replies for an order that does not exist, one handoff per lockout.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use kefu_bot::agent::{Agent, AgentSettings, CodeSender, Inbound, Outcome};
use kefu_bot::shop::Channel;
use kefu_bot::store::Store;

use crate::shop::{Shop, WANG};

/// The codes "sent", for the test to read.
#[derive(Default)]
struct Mailbox(Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl CodeSender for Mailbox {
    async fn send_code(&self, to: &str, code: &str, _lang: &str) -> Result<(), String> {
        self.0.lock().unwrap().push((to.into(), code.into()));
        Ok(())
    }
}

struct Desk {
    agent: Agent,
    mailbox: Arc<Mailbox>,
    clock: Arc<Mutex<DateTime<Utc>>>,
    _dir: tempfile::TempDir,
}

impl Desk {
    /// The test shop's agent; `codes`: with an e-mail code sender.
    async fn new(store: &Store, codes: bool, tune: impl FnOnce(&mut AgentSettings)) -> Self {
        crate::shop::seed(store).await;
        let dir = tempfile::tempdir().unwrap();
        let knowledge = crate::shop::knowledge(store, dir.path()).await;
        let clock = Arc::new(Mutex::new(crate::shop::now()));
        let mut settings = crate::shop::settings();
        let c = clock.clone();
        settings.clock = Arc::new(move || *c.lock().unwrap());
        tune(&mut settings);
        let mailbox = Arc::new(Mailbox::default());
        let mut agent = Agent::new(store.clone(), Some(knowledge), settings).unwrap();
        if codes {
            agent = agent.with_code_sender(mailbox.clone());
        }
        Self {
            agent,
            mailbox,
            clock,
            _dir: dir,
        }
    }

    /// An anonymous widget visitor's message, from `client` when given.
    async fn say(&self, thread: &str, client: Option<&str>, text: &str) -> Outcome {
        self.agent
            .handle(&Inbound {
                channel: Channel::Web,
                thread_id: thread.into(),
                external_id: None,
                text: text.into(),
                customer: None,
                lang_hint: None,
                lang_fixed: false,
                client: client.map(str::to_string),
            })
            .await
            .unwrap()
    }
}

fn texts(o: &Outcome) -> Vec<String> {
    o.replies.iter().map(|r| r.text.clone()).collect()
}

const PAUSED: &str = "For your security, I can't check order details right now.";

pub async fn a_list_of_postal_codes_or_addresses_never_verifies(store: &Store) {
    let shop = Shop::new(store).await;
    let ask = shop.say("list", None, "where is my order #1001?").await;
    assert!(ask.awaiting_verification, "{:?}", ask.replies);
    // Forty-odd codes of many countries, the order's own (200000) among them.
    // (Letters in lower case: a message in capitals reads as shouting and goes to a person.)
    let list = "my postcode is one of 10001 94107 94110-1234 sw1a 1aa ec1a 1bb m1 1ae k1a 0b6 \
                h2x 1y4 150-0001 100-0005 1012 ab 3011 cd 10115 80331 75001 69002 28013 08001 \
                00184 20121 100020 200000 518000 01310-100 20040-002 1000-001 4000-123 00-950 \
                2000 3000 4000 8001 1010 d02 x285 lv-1010 11000 60-001 1050 2100";
    let o = shop.say("list", None, list).await;
    assert!(!o.verified, "{:?}", o.replies);
    assert!(o.tool_calls.is_empty(), "{:?}", o.tool_calls);
    assert!(
        texts(&o)[0].starts_with("Sorry, I couldn't verify that."),
        "{:?}",
        o.replies
    );
    // Several addresses in one message prove nothing, even with the right one among them.
    let o = shop
        .say(
            "emails",
            None,
            &format!("#1001 emily.johnson@example.com {WANG} nobody@example.com"),
        )
        .await;
    assert!(!o.verified, "{:?}", o.replies);
    // One code alone, or one address alone, does (two failures are below the limit).
    let o = shop.say("one", None, "#1001 postal code 200000").await;
    assert!(o.verified, "{:?}", o.replies);
    let o = shop.say("one-mail", None, &format!("#1001 {WANG}")).await;
    assert!(o.verified, "{:?}", o.replies);
}

pub async fn failures_on_one_order_from_many_visitors_lock_it_like_a_missing_order(store: &Store) {
    let desk = Desk::new(store, true, |_| {}).await;
    let (mut real, mut missing) = (vec![], vec![]);
    for i in 0..6 {
        let guess = format!("postal code 3100{i}");
        real.push(
            desk.say(&format!("real-{i}"), None, &format!("#1003 {guess}"))
                .await,
        );
        missing.push(
            desk.say(&format!("gone-{i}"), None, &format!("#7777 {guess}"))
                .await,
        );
    }
    for i in 0..6 {
        assert!(!real[i].verified && !missing[i].verified);
        assert_eq!(texts(&real[i]), texts(&missing[i]), "attempt {i}");
        assert_eq!(
            real[i].handoff.is_some(),
            missing[i].handoff.is_some(),
            "attempt {i}"
        );
    }
    for o in &real[..4] {
        assert!(
            texts(o)[0].starts_with("Sorry, I couldn't verify that."),
            "{:?}",
            o.replies
        );
    }
    // The fifth failure locks the order and opens the one handoff; later attempts get the
    // locked reply only.
    let handoffs: Vec<usize> = (0..6).filter(|i| real[*i].handoff.is_some()).collect();
    assert_eq!(handoffs, vec![4]);
    assert!(
        texts(&real[4])[0].starts_with(PAUSED),
        "{:?}",
        real[4].replies
    );
    assert!(
        texts(&real[5])[0].starts_with(PAUSED),
        "{:?}",
        real[5].replies
    );
    assert_eq!(real[5].replies.len(), 1, "{:?}", real[5].replies);
    // Even the right postal code no longer verifies by challenge, from a new visitor.
    let right = desk
        .say("real-right", None, "#1003 postal code 200000")
        .await;
    assert!(!right.verified, "{:?}", right.replies);
    assert_eq!(texts(&right), texts(&real[5]));
    assert!(right.handoff.is_none());
    let right = desk
        .say("real-right-2", None, &format!("#1003, {WANG}"))
        .await;
    assert!(!right.verified, "{:?}", right.replies);
    // The e-mail code still works: the address alone gets a code.
    assert!(
        desk.mailbox.0.lock().unwrap().len() == 1,
        "the address got a code instead"
    );
    let (to, code) = desk.mailbox.0.lock().unwrap()[0].clone();
    assert_eq!(to, WANG);
    let done = desk.say("real-right-2", None, &code).await;
    assert!(done.verified, "{:?}", done.replies);
    // A day later the order's failures no longer count.
    *desk.clock.lock().unwrap() += chrono::Duration::hours(25);
    let later = desk
        .say("real-later", None, "#1003 postal code 200000")
        .await;
    assert!(later.verified, "{:?}", later.replies);
}

pub async fn failures_from_one_client_address_are_limited_across_visitors(store: &Store) {
    let desk = Desk::new(store, false, |_| {}).await;
    // Ten failures from one address, spread over orders (two each: below their limit).
    for i in 0..10 {
        let o = desk
            .say(
                &format!("c-{i}"),
                Some("203.0.113.7"),
                &format!("#100{} postal code 4{i}000", 1 + i % 5),
            )
            .await;
        assert!(!o.verified);
        assert!(o.handoff.is_none(), "attempt {i}: {:?}", o.replies);
    }
    let blocked = desk
        .say("c-last", Some("203.0.113.7"), "#1004 postal code 200000")
        .await;
    assert!(!blocked.verified, "{:?}", blocked.replies);
    assert_eq!(texts(&blocked), vec![PAUSED.to_string()]);
    assert!(blocked.handoff.is_none());
    // Another address is not held back.
    let other = desk
        .say("c-other", Some("198.51.100.20"), "#1004 postal code 200000")
        .await;
    assert!(other.verified, "{:?}", other.replies);
    // Addresses of one IPv6 /64 are one client.
    for i in 0..10 {
        desk.say(
            &format!("v6-{i}"),
            Some(&format!("2001:db8:1:2::{i:x}")),
            &format!("#100{} postal code 5{i}000", 1 + i % 5),
        )
        .await;
    }
    let blocked = desk
        .say(
            "v6-last",
            Some("2001:db8:1:2:ffff::1"),
            "#1002 postal code 200000",
        )
        .await;
    assert!(!blocked.verified, "{:?}", blocked.replies);
}

pub async fn many_failures_shop_wide_pause_the_challenge_for_a_while(store: &Store) {
    let desk = Desk::new(store, false, |s| s.verify_limits.shop_wide = 6).await;
    for i in 0..6 {
        desk.say(
            &format!("s-{i}"),
            Some(&format!("198.51.100.{i}")),
            &format!("#100{} postal code 6{i}000", 1 + i % 5),
        )
        .await;
    }
    let paused = desk
        .say("s-right", Some("192.0.2.1"), "#1001 postal code 200000")
        .await;
    assert!(!paused.verified, "{:?}", paused.replies);
    assert_eq!(texts(&paused), vec![PAUSED.to_string()]);
    // The window is ten minutes: after it, challenges are checked again.
    *desk.clock.lock().unwrap() += chrono::Duration::minutes(11);
    let right = desk
        .say("s-later", Some("192.0.2.1"), "#1001 postal code 200000")
        .await;
    assert!(right.verified, "{:?}", right.replies);
}

pub async fn without_an_email_server_an_address_alone_gets_an_honest_answer(store: &Store) {
    let desk = Desk::new(store, false, |_| {}).await;
    let ask = desk.say("no-smtp", None, "where is my parcel?").await;
    assert!(
        !texts(&ask)[0].contains("one-time code"),
        "{:?}",
        ask.replies
    );
    let o = desk.say("no-smtp", None, WANG).await;
    assert!(!o.verified);
    assert_eq!(
        texts(&o),
        vec!["I can't send verification codes by e-mail here. Please send your order number together with the e-mail address or postal code used on the order.".to_string()]
    );
    // The order challenge still works in the same conversation.
    let o = desk
        .say("no-smtp", None, "#1005, wang.fang@example.com")
        .await;
    assert!(o.verified, "{:?}", o.replies);
}
