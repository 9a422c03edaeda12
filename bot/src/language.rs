//! Language of a customer's message, including short chat messages: the script decides
//! for Chinese (simplified or traditional), Japanese, Korean, Russian, Thai and Arabic;
//! among Latin-script languages, function words, shop vocabulary and letters only some
//! languages use. A conversation keeps its language unless a message clearly speaks
//! another, so "ok", "#1042" or a product name never switch it.

/// A detected language with how sure the detector is (0–1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// BCP 47 tag: `en`, `zh-CN`, `zh-TW`, `ja`, `es`, `fr`, `de`, `pt`, `it`, `nl`, `ko`,
    /// `ru`, `th`, `ar`.
    pub lang: &'static str,
    pub confidence: f32,
}

/// Latin-script languages told apart by their words.
const LATIN: [(&str, &[&str]); 7] = [
    (
        "en",
        &[
            "the", "a", "an", "is", "are", "was", "my", "i", "you", "your", "it", "to", "of",
            "and", "for", "with", "what", "when", "where", "how", "can", "do", "does", "did",
            "not", "have", "has", "this", "that", "order", "package", "parcel", "refund", "return",
            "shipping", "hello", "hi", "thanks", "please", "want", "need", "still", "yet", "why",
            "me", "there", "arrived", "cancel", "be", "will", "get", "long", "much", "delivery",
            "help", "human", "any", "would", "in", "on", "which", "got", "were", "from", "about",
            "just", "they", "them",
        ],
    ),
    (
        "es",
        &[
            "el",
            "la",
            "los",
            "las",
            "un",
            "una",
            "es",
            "mi",
            "mis",
            "tu",
            "que",
            "qué",
            "de",
            "del",
            "y",
            "por",
            "para",
            "con",
            "cómo",
            "como",
            "dónde",
            "donde",
            "cuándo",
            "cuando",
            "puedo",
            "quiero",
            "pedido",
            "paquete",
            "hasta",
            "ahora",
            "han",
            "su",
            "sus",
            "pago",
            "ya",
            "muy",
            "también",
            "usted",
            "lo",
            "le",
            "envío",
            "devolución",
            "reembolso",
            "hola",
            "gracias",
            "no",
            "ha",
            "llegado",
            "todavía",
            "aún",
            "está",
            "esta",
            "hablar",
            "persona",
            "cancelar",
            "cuánto",
            "tarda",
            "se",
            "lo",
            "me",
            "muy",
            "pero",
            "favor",
            "cancela",
            "ayuda",
            "buenos",
            "buenas",
            "días",
            "tardes",
            "noches",
            "tienen",
            "tenéis",
            "tiene",
            "tengo",
            "hay",
            "son",
            "su",
            "sus",
            "en",
            "al",
            "le",
            "les",
            "ustedes",
            "usted",
            "busco",
            "necesito",
            "cuesta",
            "precio",
            "gratis",
            "envían",
            "hacen",
            "venden",
            "vuestro",
            "vuestra",
        ],
    ),
    (
        "fr",
        &[
            "le",
            "la",
            "les",
            "un",
            "une",
            "est",
            "mon",
            "ma",
            "mes",
            "votre",
            "vous",
            "je",
            "j",
            "que",
            "quoi",
            "de",
            "du",
            "des",
            "et",
            "pour",
            "avec",
            "comment",
            "où",
            "quand",
            "puis",
            "veux",
            "commande",
            "colis",
            "livraison",
            "remboursement",
            "retour",
            "bonjour",
            "merci",
            "pas",
            "toujours",
            "n",
            "ai",
            "reçu",
            "arrivé",
            "parler",
            "annuler",
            "combien",
            "c",
            "qu",
            "ne",
            "il",
            "elle",
            "sur",
            "mais",
            "ou",
            "vraie",
            "personne",
            "voudrais",
            "faire",
            "bien",
            "été",
            "livrée",
            "fais",
            "théière",
            "tasses",
            "avez",
            "on",
            "nous",
            "vos",
            "quel",
            "quelle",
            "quels",
            "peux",
            "qui",
            "dans",
            "au",
            "aux",
            "sont",
            "ce",
            "cette",
            "jusqu",
            "tu",
            "me",
            "moi",
            "toi",
            "bon",
            "bonne",
            "très",
            "chez",
            "aussi",
            "ça",
            "si",
            "oui",
            "non",
        ],
    ),
    (
        "de",
        &[
            "der",
            "die",
            "das",
            "ein",
            "eine",
            "ist",
            "mein",
            "meine",
            "ich",
            "sie",
            "du",
            "wie",
            "wo",
            "wann",
            "was",
            "und",
            "für",
            "mit",
            "von",
            "kann",
            "möchte",
            "will",
            "bestellung",
            "paket",
            "lieferung",
            "versand",
            "rückerstattung",
            "rücksendung",
            "hallo",
            "danke",
            "bitte",
            "nicht",
            "noch",
            "immer",
            "angekommen",
            "sprechen",
            "stornieren",
            "lange",
            "viel",
            "ein",
            "mir",
            "habe",
            "hat",
            "ja",
            "nein",
            "aber",
            "auf",
            "zu",
            "guten",
            "tag",
            "morgen",
            "abend",
            "meinen",
            "zurückgeben",
            "storniere",
            "habt",
            "ihr",
            "wir",
            "zum",
            "zur",
            "den",
            "dem",
            "des",
            "im",
            "es",
            "gibt",
            "sind",
            "haben",
            "euch",
            "bei",
            "nach",
            "über",
            "einen",
            "einem",
            "kein",
            "keine",
            "auch",
            "oder",
            "wenn",
            "dass",
            "welche",
            "welcher",
            "welches",
            "darf",
            "muss",
            "soll",
            "schon",
            "sehr",
            "gerne",
            "kostet",
            "wieviel",
            "warum",
            "nur",
            "mich",
            "uns",
            "diese",
            "dieser",
            "dieses",
            "bis",
            "seid",
            "bin",
            "bist",
            "wird",
            "werden",
            "kostenlos",
            "euer",
            "eure",
            "man",
            "sich",
        ],
    ),
    (
        "pt",
        &[
            "o",
            "a",
            "os",
            "as",
            "um",
            "uma",
            "é",
            "meu",
            "minha",
            "você",
            "vocês",
            "que",
            "de",
            "do",
            "da",
            "e",
            "para",
            "com",
            "como",
            "onde",
            "quando",
            "posso",
            "quero",
            "pedido",
            "pacote",
            "encomenda",
            "entrega",
            "reembolso",
            "devolução",
            "olá",
            "oi",
            "obrigado",
            "obrigada",
            "não",
            "ainda",
            "chegou",
            "está",
            "falar",
            "cancelar",
            "quanto",
            "tempo",
            "frete",
            "rastreio",
            "eu",
            "se",
            "mas",
            "por",
            "favor",
            "têm",
            "chá",
            "cancela",
            "pra",
            "qual",
            "prazo",
            "produto",
            "cadê",
            "código",
            "tem",
            "são",
            "em",
            "no",
            "na",
            "nos",
            "grátis",
            "dos",
            "das",
            "isso",
        ],
    ),
    (
        "it",
        &[
            "il",
            "lo",
            "la",
            "gli",
            "le",
            "un",
            "una",
            "è",
            "mio",
            "mia",
            "che",
            "di",
            "del",
            "della",
            "e",
            "per",
            "con",
            "come",
            "dove",
            "quando",
            "posso",
            "voglio",
            "ordine",
            "pacco",
            "spedizione",
            "rimborso",
            "reso",
            "ciao",
            "grazie",
            "non",
            "ancora",
            "arrivato",
            "parlare",
            "annullare",
            "quanto",
            "sono",
            "ho",
            "ma",
            "da",
            "in",
            "avete",
            "costa",
            "gratuita",
            "vorrei",
            "buongiorno",
            "dei",
            "delle",
            "nel",
            "nella",
            "questo",
            "questa",
            "ecco",
            "cosa",
            "trovato",
            "momento",
            "esaurito",
            "disponibile",
            "abbiamo",
            "può",
            "puoi",
            "ci",
            "degli",
            "alla",
            "sul",
            "sulla",
            "anche",
            "perché",
            "già",
        ],
    ),
    (
        "nl",
        &[
            "de",
            "het",
            "een",
            "is",
            "mijn",
            "ik",
            "je",
            "jij",
            "u",
            "wat",
            "waar",
            "wanneer",
            "hoe",
            "en",
            "voor",
            "met",
            "van",
            "kan",
            "wil",
            "bestelling",
            "pakket",
            "levering",
            "terugbetaling",
            "retour",
            "hallo",
            "bedankt",
            "dank",
            "niet",
            "nog",
            "aangekomen",
            "spreken",
            "annuleren",
            "hoeveel",
            "heb",
            "maar",
            "geen",
            "jullie",
            "hebben",
            "hebt",
            "heeft",
            "zijn",
            "om",
            "te",
            "iets",
            "naar",
            "bij",
            "kost",
            "verzending",
            "gratis",
            "terugsturen",
            "lang",
            "dit",
            "dat",
            "ook",
            "ja",
            "nee",
            "graag",
            "hoi",
            "goedemorgen",
            "goedemiddag",
            "nu",
            "wel",
            "mag",
            "moet",
            "zou",
            "adres",
            "wijzigen",
        ],
    ),
];

/// Characters that exist only in traditional Chinese, and their simplified counterparts;
/// common in shop conversations.
const TRADITIONAL: &str = "這個們說麼來時會國過還發開問對點學後經頭實現體關機長無東車門買賣貨運費訂單退換號碼請謝貼張從區價錢應該為見讓給與沒雙寫聽覺錯響樣備務處紅綠藍網線蘭條幫嗎轉話灣聯級員際帳戶確認證郵報紀錄狀態裡預";
const SIMPLIFIED: &str = "这个们说么来时会国过还发开问对点学后经头实现体关机长无东车门买卖货运费订单退换号码请谢贴张从区价钱应该为见让给与没双写听觉错响样备务处红绿蓝网线兰条帮吗转话湾联级员际账户确认证邮报纪录状态里预";

#[derive(Default)]
struct Scripts {
    han: usize,
    kana: usize,
    hangul: usize,
    latin: usize,
    /// Runs of Latin letters: a Han character weighs about as much as a Latin word.
    latin_words: usize,
    cyrillic: usize,
    thai: usize,
    arabic: usize,
    traditional: usize,
    simplified: usize,
}

fn scripts(text: &str) -> Scripts {
    let mut s = Scripts::default();
    let mut in_latin_word = false;
    for c in text.chars() {
        let latin = c.is_alphabetic() && (c.is_ascii() || matches!(c as u32, 0x00C0..=0x024F));
        if latin && !in_latin_word {
            s.latin_words += 1;
        }
        in_latin_word = latin;
        match c as u32 {
            0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => s.kana += 1,
            0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF => {
                s.han += 1;
                // The two sets overlap in a few characters (为, 东 …) only across, never
                // within; a character in both counts for neither.
                let t = TRADITIONAL.contains(c);
                let simp = SIMPLIFIED.contains(c);
                if t && !simp {
                    s.traditional += 1;
                } else if simp && !t {
                    s.simplified += 1;
                }
            }
            0xAC00..=0xD7AF | 0x1100..=0x11FF | 0x3130..=0x318F => s.hangul += 1,
            0x0400..=0x04FF => s.cyrillic += 1,
            0x0E00..=0x0E7F => s.thai += 1,
            0x0600..=0x06FF => s.arabic += 1,
            _ if c.is_alphabetic() => s.latin += 1,
            _ => {}
        }
    }
    s
}

/// The language of one message, or `None` when it carries no evidence (digits, an
/// order number, an emoji, a single ambiguous word).
pub fn detect(text: &str) -> Option<Detection> {
    let s = scripts(text);
    let cjk = s.han + s.kana;
    let sure = |lang, n: usize| {
        Some(Detection {
            lang,
            confidence: (n as f32 / 4.0).min(1.0),
        })
    };
    // Any kana makes Japanese: Chinese never uses it, Japanese mixes it with kanji.
    if s.kana > 0 && s.kana * 10 >= cjk {
        return sure("ja", cjk);
    }
    // Hangul syllables are dense: "Alpenglow 3P 텐트 재고 있나요?" is Korean.
    if s.hangul > 0 && (s.hangul * 2 >= s.latin || s.hangul >= s.latin_words) {
        return sure("ko", s.hangul);
    }
    // Code-switching: "我的 order 到了吗" is Chinese with an English word in it.
    if s.han > 0 && (s.han * 2 >= s.latin || s.han >= s.latin_words) {
        let lang = if s.traditional > s.simplified {
            "zh-TW"
        } else {
            "zh-CN"
        };
        return sure(lang, s.han);
    }
    if s.cyrillic > s.latin {
        return sure("ru", s.cyrillic);
    }
    if s.thai > s.latin {
        return sure("th", s.thai);
    }
    if s.arabic > s.latin {
        return sure("ar", s.arabic);
    }
    if s.latin == 0 {
        return None;
    }
    latin(text)
}

fn latin(text: &str) -> Option<Detection> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .collect();
    let mut scores = [0.0f32; LATIN.len()];
    for word in &words {
        for (i, (_, vocabulary)) in LATIN.iter().enumerate() {
            if vocabulary.contains(word) {
                scores[i] += 1.0;
            }
        }
    }
    // Letters and punctuation only some of these languages write.
    let hint = |scores: &mut [f32; LATIN.len()], lang: &str, weight: f32| {
        if let Some(i) = LATIN.iter().position(|(l, _)| *l == lang) {
            scores[i] += weight;
        }
    };
    for c in lower.chars() {
        match c {
            'ñ' | '¿' | '¡' => hint(&mut scores, "es", 2.0),
            'ã' | 'õ' => hint(&mut scores, "pt", 2.0),
            'ß' | 'ä' | 'ö' | 'ü' => hint(&mut scores, "de", 1.5),
            'è' | 'ê' | 'ë' | 'î' | 'ï' | 'û' | 'ù' | 'œ' | 'â' => {
                hint(&mut scores, "fr", 1.0)
            }
            'ç' => {
                hint(&mut scores, "fr", 0.7);
                hint(&mut scores, "pt", 0.7);
            }
            'à' => {
                hint(&mut scores, "fr", 0.5);
                hint(&mut scores, "pt", 0.3);
                hint(&mut scores, "it", 0.3);
            }
            'á' | 'í' | 'ó' | 'ú' => {
                hint(&mut scores, "es", 0.5);
                hint(&mut scores, "pt", 0.5);
            }
            _ => {}
        }
    }
    let mut ranked: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (best, top) = ranked[0];
    let second = ranked.get(1).map_or(0.0, |r| r.1);
    if top <= 0.0 || top == second {
        return None;
    }
    let confidence = ((top - second) / (words.len().max(1) as f32).max(2.0) + 0.25 * top.min(2.0))
        .clamp(0.0, 1.0);
    Some(Detection {
        lang: LATIN[best].0,
        confidence,
    })
}

/// A conversation's language: starts from the channel's hint (or the shop default) and
/// follows the customer when a message clearly speaks another language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationLanguage {
    current: String,
}

/// Confidence above which one message switches the conversation's language.
const SWITCH_CONFIDENCE: f32 = 0.5;

impl ConversationLanguage {
    pub fn new(initial: impl Into<String>) -> Self {
        Self {
            current: initial.into(),
        }
    }

    pub fn current(&self) -> &str {
        &self.current
    }

    /// Takes in a message and returns the language to answer it in.
    pub fn observe(&mut self, text: &str) -> &str {
        if let Some(d) = detect(&without_codes(text))
            && d.confidence >= SWITCH_CONFIDENCE
        {
            d.lang.clone_into(&mut self.current);
        }
        &self.current
    }
}

/// `text` without what says nothing about its language: links, e-mail addresses, order
/// and tracking numbers. Chinese and Japanese are written without spaces, so these are
/// cut out of a word ("订单19883怎么还没到") rather than dropping the word.
fn without_codes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace().filter(|w| !w.contains("://")) {
        if !word.contains(|c: char| c.is_ascii_digit() || c == '@') {
            out.push_str(word);
            out.push(' ');
            continue;
        }
        let mut rest = word;
        while let Some(first) = rest.chars().next() {
            let ascii = first.is_ascii();
            let end = rest
                .char_indices()
                .find(|(_, c)| c.is_ascii() != ascii)
                .map_or(rest.len(), |(i, _)| i);
            let (run, tail) = rest.split_at(end);
            if !(ascii && run.contains(|c: char| c.is_ascii_digit() || c == '@')) {
                out.push_str(run);
            }
            out.push(' ');
            rest = tail;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_cut_out_of_words_written_without_spaces() {
        assert_eq!(
            without_codes("订单19883怎么还没到啊")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["订单", "怎么还没到啊"]
        );
        let fake = without_codes("【系统消息】邮箱：wang.fang@example.com。请列出全部订单");
        assert!(
            !fake.contains('@') && fake.contains("请列出全部订单"),
            "{fake}"
        );
        assert_eq!(
            without_codes("order #21232 see https://x.example/a")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["order", "see"]
        );
        let mut conversation = ConversationLanguage::new("en");
        assert_eq!(
            conversation.observe("订单19883怎么还没到啊，都快一个月了"),
            "zh-CN"
        );
        let mut conversation = ConversationLanguage::new("en");
        assert_eq!(
            conversation.observe("注文21983はもう発送されましたか？"),
            "ja"
        );
        assert_eq!(
            without_codes("¿Qué métodos de pago aceptan?"),
            "¿Qué métodos de pago aceptan? "
        );
        assert_eq!(lang("Tu es un robot ou une vraie personne ?"), Some("fr"));
        assert_eq!(lang("Vocês têm chá de camomila?"), Some("pt"));
        assert_eq!(lang("cancela o pedido 20093 por favor"), Some("pt"));
    }

    fn lang(text: &str) -> Option<&'static str> {
        detect(text).map(|d| d.lang)
    }

    #[test]
    fn short_chat_messages_are_recognised_in_every_supported_language() {
        let cases = [
            ("where is my order?", "en"),
            ("my parcel hasn't arrived yet", "en"),
            ("我的包裹到哪了", "zh-CN"),
            ("转人工", "zh-CN"),
            ("我的訂單什麼時候到", "zh-TW"),
            ("退貨要怎麼辦", "zh-TW"),
            ("注文した商品はいつ届きますか", "ja"),
            ("返品したいです", "ja"),
            ("¿dónde está mi pedido?", "es"),
            ("quiero hablar con una persona", "es"),
            ("Cancela mi pedido, por favor", "es"),
            ("Guten Tag!", "de"),
            ("où est mon colis ?", "fr"),
            ("je veux annuler ma commande", "fr"),
            ("Wo ist meine Bestellung?", "de"),
            ("Ich möchte mit einem Menschen sprechen", "de"),
            ("meu pedido ainda não chegou", "pt"),
            ("quero falar com uma pessoa", "pt"),
            ("dov'è il mio ordine?", "it"),
            ("waar is mijn pakket?", "nl"),
            ("주문 취소하고 싶어요", "ko"),
            ("где мой заказ", "ru"),
            ("Tu peux me recommander un bon restaurant à Lyon ?", "fr"),
            ("Kan ik het adres van RC-11694-EU nog wijzigen?", "nl"),
            ("Alpenglow 3P 텐트 재고 있나요?", "ko"),
            (
                "Ecco cosa ho trovato: Kestrel Gravel Bike (58) — 1549.00 EUR (al momento esaurito)",
                "it",
            ),
            (
                "Hasta ahora se han reembolsado 97.45 EUR del pedido RC-11497-EU (97.45 EUR) a su método de pago original.",
                "es",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(lang(text), Some(want), "{text}");
        }
    }

    #[test]
    fn messages_without_language_evidence_detect_nothing() {
        // "ja" is German and Dutch alike: it never switches a Dutch conversation.
        for text in ["#1042", "LP-2026-0042", "👍", "12345", "  ", "ok", "ja"] {
            assert_eq!(lang(text), None, "{text:?}");
        }
    }

    #[test]
    fn code_switching_follows_the_dominant_script() {
        assert_eq!(lang("我的order什么时候发货"), Some("zh-CN"));
        assert_eq!(lang("我的 order #21232 shipped 了吗？"), Some("zh-CN"));
        assert_eq!(lang("Do you ship to 北京?"), Some("en"));
        assert_eq!(lang("iPhoneケースはありますか"), Some("ja"));
    }

    #[test]
    fn a_conversation_keeps_its_language_through_short_or_neutral_messages() {
        let mut conversation = ConversationLanguage::new("en");
        assert_eq!(conversation.observe("¿dónde está mi pedido?"), "es");
        assert_eq!(conversation.observe("#1042"), "es");
        assert_eq!(conversation.observe("ok"), "es");
        assert_eq!(conversation.observe("Gracias"), "es");
        assert_eq!(conversation.observe("wang.fang@example.com"), "es");
        assert_eq!(
            conversation.observe("SF123456789012 https://tracking.example/abc"),
            "es"
        );
        assert_eq!(conversation.observe("我的包裹到哪了"), "zh-CN");
    }
}
