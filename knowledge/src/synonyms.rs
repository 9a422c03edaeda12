//! Query expansion for keyword search: the words customers use for a support topic, and
//! the words shops write their help pages in.
//!
//! Without an embedding model, search only meets a question and a passage on shared
//! words. Customers ask "Wie lange dauert der Versand?" where the help page says
//! "Lieferzeiten", "包裹丢了" where it says "丢失", "can I send it back?" where it says
//! "returns". [`expand`] appends the shop-side words of every topic a question mentions,
//! so the question also matches the page written in them. The original words stay, and
//! the question's own words still decide among passages that share them; the additions
//! only pull the right topic into reach.
//!
//! Only the keyword side of search uses it, with or without a model: the query embedding
//! is computed from the question as written.

use std::borrow::Cow;

/// (customer words, shop words). A customer word matches anywhere in the lowercased
/// question (so German and Japanese compounds and inflections are found); the shop words
/// are added once.
const TOPICS: &[(&[&str], &str)] = &[
    // Shipping times.
    (
        &[
            "delivery time",
            "ship to",
            "shipping to",
            "deliver to",
            "delivery to",
            "how long is delivery",
            "how long does delivery",
            "how long does shipping",
            "if i order",
            "order today",
        ],
        "shipping times delivery",
    ),
    (
        &[
            "versand",
            "verschick",
            "zustellung",
            "lieferdauer",
            "wann kommt",
            "ankommen",
        ],
        "lieferzeiten lieferung",
    ),
    (
        &[
            "tarda el envío",
            "tarda el envio",
            "tarda en llegar",
            "cuánto tarda",
            "cuanto tarda",
            "días de envío",
            "dias de envio",
            "entrega",
        ],
        "plazos de envío entrega",
    ),
    (
        &[
            "livraison",
            "livrer",
            "livré",
            "expédition",
            "recevoir ma commande",
        ],
        "délais de livraison",
    ),
    (
        &["配送", "届く", "届きま", "発送", "何日で"],
        "配送日数 お届け",
    ),
    (
        &["运输", "送达", "寄到", "多久到", "几天到", "快递要"],
        "配送时效 收到",
    ),
    // Returns.
    (
        &[
            "send back",
            "send it back",
            "bring back",
            "take back",
            "don't like",
            "do not like",
            "changed my mind",
        ],
        "returns policy return",
    ),
    (
        &[
            "rückgabe",
            "zurückschick",
            "zurücksend",
            "zurückgeb",
            "umtausch",
            "widerruf",
            "gefällt mir nicht",
            "gefällt nicht",
        ],
        "rückgaberichtlinie rückgabe rücksendung",
    ),
    (
        &["devolver", "devoluci", "no me gusta"],
        "política de devoluciones devolución",
    ),
    (
        &[
            "renvoyer",
            "retourner",
            "ne me plaît pas",
            "ne me plait pas",
        ],
        "politique de retour retour",
    ),
    (
        &["返品", "へんぴん", "返したい", "送り返", "気に入らな"],
        "返品ポリシー 返品",
    ),
    (
        &[
            "不喜欢",
            "退吗",
            "退回去",
            "寄回去",
            "能退",
            "可以退",
            "不想要了",
        ],
        "退货政策 退货",
    ),
    // Refunds.
    (&["money back", "reimburse", "refund"], "refunds refund"),
    (
        &["rückerstattung", "geld zurück", "erstattet"],
        "erstattungen erstattung",
    ),
    (
        &["reembols", "mi dinero", "el dinero", "devuelven el dinero"],
        "reembolsos reembolso",
    ),
    (&["rembours", "mon argent"], "remboursements remboursement"),
    (&["返金", "へんきん", "お金が戻"], "返金について 返金"),
    (&["退款", "钱什么时候", "退钱"], "退款说明 退款"),
    // Lost or late parcels.
    (
        &[
            "parcel lost",
            "package lost",
            "lost parcel",
            "lost package",
            "seems lost",
            "got lost",
            "gets lost",
            "lost in the mail",
            "never arrived",
            "never came",
            "misplaced",
            "says delivered",
            "marked as delivered",
            "hasn't arrived",
            "has not arrived",
            "disappeared",
            "stolen",
        ],
        "delayed or lost parcels lost",
    ),
    (
        &[
            "verloren",
            "verschwunden",
            "gestohlen",
            "verspätet",
            "nicht angekommen",
            "als zugestellt",
        ],
        "verspätete verlorene pakete",
    ),
    (
        &[
            "perdido",
            "extraviado",
            "robado",
            "retrasado",
            "no ha llegado",
            "no me ha llegado",
            "pone entregado",
            "marca entregado",
        ],
        "paquetes retrasados perdidos",
    ),
    (
        &[
            "perdu",
            "égaré",
            "volé",
            "en retard",
            "jamais arrivé",
            "pas arrivé",
            "pas reçu",
        ],
        "colis retardés perdus",
    ),
    (
        &[
            "紛失",
            "なくな",
            "盗まれ",
            "遅延",
            "遅れて",
            "届いていない",
            "届かない",
        ],
        "配送の遅延 紛失",
    ),
    (
        &["丢", "不见了", "被偷", "延误", "迟迟", "没收到", "显示签收"],
        "包裹延误 丢失",
    ),
    // Topics a shop may have written in one language only: the customer's word brings in
    // the usual names in English and Chinese too, so keyword search reaches the page
    // across languages.
    (
        &[
            "gift card",
            "giftcard",
            "gift-card",
            "tarjeta regalo",
            "carte cadeau",
            "carte-cadeau",
            "gutschein",
            "ギフトカード",
            "礼品卡",
            "禮品卡",
            "cartão presente",
            "vale-presente",
        ],
        "gift cards 礼品卡",
    ),
    (
        &[
            "damaged",
            "broken",
            "cracked",
            "cassé",
            "fêlé",
            "abîmé",
            "endommagé",
            "beschädigt",
            "kaputt",
            "zerbrochen",
            "roto",
            "rota",
            "dañado",
            "quebrado",
            "quebrada",
            "破損",
            "割れ",
            "破损",
            "碎了",
            "摔坏",
        ],
        "damaged items artículos dañados 商品破损",
    ),
    (
        &[
            "abo ",
            "abonnement",
            "subscription",
            "suscripción",
            "suscripcion",
            "assinatura",
            "サブスク",
            "定期便",
            "订阅",
            "訂閱",
            "pausieren",
            "pause",
        ],
        "subscription monthly leaf suscripción 订阅",
    ),
    // Payment.
    (
        &[
            "pay with",
            "pay by",
            "pay using",
            "paypal",
            "credit card",
            "apple pay",
            "google pay",
            "klarna",
            "instalment",
            "installment",
            "split the cost",
            "split the payment",
            "pay later",
        ],
        "payment methods",
    ),
    (
        &["bezahlen", "zahlen", "zahlung", "ratenzahlung", "in raten"],
        "zahlungsarten",
    ),
    (&["pagar", "pago", "a plazos", "cuotas"], "métodos de pago"),
    (
        &["payer", "paiement", "régler", "plusieurs fois"],
        "moyens de paiement",
    ),
    (
        &["支払", "払え", "決済", "クレジットカード"],
        "お支払い方法",
    ),
    (&["付款", "支付", "付钱", "信用卡"], "支付方式"),
    // Tracking.
    (
        &[
            "where is my order",
            "where's my order",
            "where is my parcel",
            "where's my parcel",
            "where is my package",
            "where's my package",
            "track my",
            "tracking number",
        ],
        "tracking your order",
    ),
    (
        &[
            "wo ist mein paket",
            "wo ist meine bestellung",
            "wo ist meine sendung",
            "verfolgen",
            "sendungsnummer",
        ],
        "sendungsverfolgung",
    ),
    (
        &[
            "dónde está mi",
            "donde esta mi",
            "dónde está el paquete",
            "rastrear",
            "seguimiento",
        ],
        "seguimiento de pedidos",
    ),
    (
        &[
            "où est mon colis",
            "ou est mon colis",
            "où en est",
            "suivre mon colis",
            "suivi",
        ],
        "suivre sa commande suivi",
    ),
    (
        &["どこにある", "今どこ", "いまどこ", "追跡"],
        "注文の追跡方法 追跡",
    ),
    (
        &[
            "到哪了",
            "包裹在哪",
            "快递在哪",
            "订单在哪",
            "物流信息",
            "查物流",
            "追踪",
        ],
        "查询订单物流",
    ),
    // Shipping costs.
    (
        &[
            "postage",
            "free shipping",
            "shipping cost",
            "delivery charge",
            "delivery fee",
            "pay for shipping",
        ],
        "shipping costs free shipping",
    ),
    (
        &[
            "transporte",
            "envío gratis",
            "envio gratis",
            "gastos de envío",
        ],
        "gastos de envío",
    ),
    (&["运费", "包邮", "免运费", "邮费"], "运费说明"),
    // Cancelling.
    (
        &["cancel", "by mistake", "ordered the wrong"],
        "cancelling an order",
    ),
    (
        &["stornier", "rückgängig", "aus versehen"],
        "bestellung stornieren",
    ),
    (&["cancelar", "anular", "por error"], "cancelar un pedido"),
    (&["annuler", "par erreur"], "annuler une commande"),
    (&["キャンセル", "取り消"], "注文のキャンセル"),
    (&["取消", "撤掉", "撤销", "拍错", "下错"], "取消订单"),
    // Adding to or combining orders.
    (
        &[
            "add to my order",
            "add something",
            "add an item",
            "combine",
            "forgot to add",
        ],
        "order processing",
    ),
    (
        &["añadir a mi pedido", "juntar", "olvidé", "olvide meter"],
        "procesamiento de pedidos",
    ),
    (&["再加", "加一", "合并", "漏买"], "订单处理流程"),
    // Wrong item sent.
    (
        &[
            "wrong item",
            "but i ordered",
            "instead of what",
            "sent me the wrong",
        ],
        "damaged or wrong items",
    ),
    (
        &["equivocado", "me enviaron otro", "no es lo que pedí"],
        "artículos dañados o equivocados",
    ),
    (&["寄错", "发错", "却是", "不是我买的"], "商品破损或发错货"),
    // Brewing.
    (
        &["steep", "brew", "water temperature", "how much leaf"],
        "tea storage and brewing guide",
    ),
    (
        &["reposar", "infusionar", "infusión", "preparar el té"],
        "guía para conservar y preparar el té",
    ),
    (&["泡多久", "冲泡", "水温", "怎么泡"], "茶叶储存与冲泡指南"),
    // Loyalty.
    (
        &[
            "rewards",
            "loyalty",
            "my points",
            "gold status",
            "silver status",
        ],
        "pine points loyalty programme",
    ),
    (
        &["puntos", "fidelidad"],
        "programa de fidelidad pine points",
    ),
    (&["积分", "会员"], "会员积分计划"),
    // Warranty.
    (
        &["guarantee", "warranty", "broke after", "stopped working"],
        "warranty",
    ),
    (&["garantie", "gewährleistung"], "garantie"),
    (
        &[
            "garantía",
            "garantia",
            "dejó de funcionar",
            "dejo de funcionar",
            "se ha estropeado",
            "se estropeó",
        ],
        "garantía",
    ),
    (&["保証", "故障"], "製品保証"),
    (&["保修", "保固", "质保", "故障"], "质保政策 质保"),
    // Support hours and contact.
    (
        &[
            "opening hours",
            "business hours",
            "office hours",
            "reach you",
            "contact you",
            "support team",
            "customer service hours",
        ],
        "customer support hours",
    ),
    (
        &[
            "öffnungszeiten",
            "erreichbar",
            "kundenservice",
            "servicezeiten",
        ],
        "servicezeiten kundenservice",
    ),
    (
        &["horario", "atención al cliente", "atencion al cliente"],
        "horario de atención al cliente",
    ),
    (
        &["horaires", "vous joindre", "service client"],
        "horaires du service client",
    ),
    (&["営業時間", "対応時間", "問い合わせ"], "サポート対応時間"),
    (&["工作时间", "客服时间", "上班", "营业时间"], "客服时间"),
];

/// `text` with the shop-side words of every topic it mentions appended; unchanged (and
/// not copied) when it mentions none.
pub fn expand(text: &str) -> Cow<'_, str> {
    expand_with(text, &[])
}

/// [`expand`], and with the shop's own word groups ([`ShopWords`]): a group any of whose
/// words the text mentions is appended whole.
pub fn expand_with<'t>(text: &'t str, shop: &[Vec<String>]) -> Cow<'t, str> {
    let lower = text.to_lowercase();
    let mut added: Vec<&str> = Vec::new();
    for (customer, words) in TOPICS {
        if customer.iter().any(|w| lower.contains(w)) && !added.contains(words) {
            added.push(words);
        }
    }
    for group in shop {
        if group.iter().any(|w| mentions(&lower, w)) {
            added.extend(group.iter().map(String::as_str));
        }
    }
    if added.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(text);
    for words in added {
        out.push(' ');
        out.push_str(words);
    }
    Cow::Owned(out)
}

/// Whether `text` mentions a word of any of the shop's groups.
pub fn mentions_shop_words(text: &str, shop: &[Vec<String>]) -> bool {
    let lower = text.to_lowercase();
    shop.iter().flatten().any(|w| mentions(&lower, w))
}

/// Whether lowercased `text` mentions `word` (lowercased): as a whole word when it is
/// written with letters of alphabetic scripts ("tea" is not in "teapot"), anywhere when
/// it is Chinese or Japanese, which are written without spaces.
fn mentions(text: &str, word: &str) -> bool {
    let spaced = word.chars().all(|c| !is_cjk(c));
    text.match_indices(word).any(|(i, _)| {
        !spaced
            || (!text[..i]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
                && !text[i + word.len()..]
                    .chars()
                    .next()
                    .is_some_and(char::is_alphanumeric))
    })
}

fn is_cjk(c: char) -> bool {
    ('\u{3040}'..='\u{9fff}').contains(&c) || ('\u{ac00}'..='\u{d7af}').contains(&c)
}

/// A shop's own word groups: names of its products and terms customers use for them,
/// across languages ("camomila", "manzanilla", "chamomile", "洋甘菊"). Kept in a YAML
/// file, a list of groups, each a list of words that mean the same:
///
/// ```yaml
/// - [chamomile, camomila, manzanilla, camomille, kamille, カモミール, 洋甘菊]
/// - [teapot, tetera, bule, théière, teekanne, 急須, 茶壶, 茶壺, 紫砂壶]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopWords {
    pub groups: Vec<Vec<String>>,
}

impl ShopWords {
    /// Reads the groups from YAML text; `file` names it in errors, which say where and
    /// why.
    pub fn parse(file: &str, text: &str) -> Result<Self, String> {
        let groups: Vec<Vec<String>> =
            serde_saphyr::from_str(text).map_err(|e| format!("{file}: {e}"))?;
        let mut out = Vec::with_capacity(groups.len());
        for (i, group) in groups.into_iter().enumerate() {
            let words: Vec<String> = group
                .iter()
                .map(|w| w.trim().to_lowercase())
                .filter(|w| !w.is_empty())
                .collect();
            if words.len() < 2 {
                return Err(format!(
                    "{file}: group {} ({}) needs at least two words that mean the same",
                    i + 1,
                    group.join(", ")
                ));
            }
            out.push(words);
        }
        Ok(Self { groups: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_words_bring_in_the_shop_words_of_their_topic() {
        assert_eq!(
            expand("Wie lange dauert der Versand?"),
            "Wie lange dauert der Versand? lieferzeiten lieferung"
        );
        assert_eq!(
            expand("包裹好像丢了，怎么办？"),
            "包裹好像丢了，怎么办？ 包裹延误 丢失"
        );
        assert!(
            expand("Can I send it back if I don't like it?").ends_with(" returns policy return")
        );
        assert!(expand("PayPalで支払えますか？").ends_with(" お支払い方法"));
    }

    #[test]
    fn a_shop_group_is_added_whole_when_one_of_its_words_is_mentioned() {
        let shop = ShopWords::parse(
            "synonyms.yaml",
            "- [chamomile, camomila, manzanilla, 洋甘菊]\n- [teapot, tetera, 茶壶, 紫砂壶]\n",
        )
        .unwrap();
        assert_eq!(
            expand_with("Vocês têm chá de Camomila?", &shop.groups),
            "Vocês têm chá de Camomila? chamomile camomila manzanilla 洋甘菊"
        );
        assert!(
            expand_with("有没有紫砂壶？", &shop.groups).ends_with(" teapot tetera 茶壶 紫砂壶")
        );
        // Whole words only in alphabetic scripts: "teapots" is not "teapot".
        assert!(matches!(
            expand_with("any teapots?", &shop.groups),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_bad_shop_word_file_says_where_and_why() {
        let err = ShopWords::parse("synonyms.yaml", "- [chamomile]\n").unwrap_err();
        assert!(
            err.contains("group 1") && err.contains("two words"),
            "{err}"
        );
        let err = ShopWords::parse("synonyms.yaml", "chamomile: camomila\n").unwrap_err();
        assert!(err.starts_with("synonyms.yaml: "), "{err}");
    }

    #[test]
    fn a_topic_is_added_once_and_other_questions_are_left_alone() {
        let once = expand("My parcel seems lost, it never arrived");
        assert_eq!(once.matches("delayed or lost parcels").count(), 1);
        assert!(matches!(
            expand("Hello there"),
            Cow::Borrowed("Hello there")
        ));
        assert!(matches!(expand("What teas do you sell?"), Cow::Borrowed(_)));
    }
}
