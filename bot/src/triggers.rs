//! What in a customer's message calls for a human: an explicit request ("agent", "转人工",
//! "hablar con una persona" …), anger or abuse, or a sensitive topic (legal threats,
//! chargebacks, safety). Matching is on lower-cased text, by phrase, in every language
//! kefu answers in; the agent adds the triggers that need context (repeated failures, low
//! confidence, refund disputes over the configured amount).
//!
//! A dangerous product is also recognised by what is wrong with it rather than by set
//! phrases: smoke, flames, sparks or an injury on their own; extreme heat, a burning
//! smell, melting, swelling, leaking or a carbon-monoxide symptom together with a powered
//! or fuelled thing (`hazards.txt`).

use std::sync::LazyLock;

use kefu_knowledge::concepts::Lexicon;

/// What customers write about a dangerous product, in every answer language.
const HAZARDS: &str = include_str!("hazards.txt");

static HAZARD_LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    Lexicon::parse(HAZARDS).unwrap_or_else(|err| {
        // The file ships inside the binary and is checked by a unit test.
        tracing::error!(%err, "bot/src/hazards.txt could not be read; hazards by phrase only");
        Lexicon::default()
    })
});

/// Whether a message reports a product that has become dangerous: a hazard named on its
/// own (smoke coming out, flames, sparks, a shock, an injury, a gas leak), or a symptom
/// of one (heat, a burning smell, melting, swelling, leaking, headaches and dizziness)
/// together with a battery, charger, light, heater, stove or other powered thing.
pub fn reports_hazard(text: &str) -> bool {
    let lexicon = &*HAZARD_LEXICON;
    let (mut now, mut symptom, mut device) = (false, false, false);
    for i in lexicon.named_in(text) {
        let id = lexicon.concepts[i].id.as_str();
        now |= id.starts_with("now:");
        symptom |= id.starts_with("device:");
        device |= id == "device";
    }
    now || (symptom && device)
}

/// Why a message asks for a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// The customer asked for a person.
    Explicit,
    /// Anger or abuse.
    Anger,
    /// Lawyers, courts, consumer authorities.
    Legal,
    /// Chargebacks and payment disputes.
    Chargeback,
    /// Injury, burns, fire, allergic reactions.
    Safety,
}

const EXPLICIT: &[&str] = &[
    // en
    "human",
    "real person",
    "a person",
    "an agent",
    "live agent",
    "customer service rep",
    "talk to someone",
    "speak to someone",
    "speak with someone",
    "representative",
    "operator",
    "your manager",
    "a manager",
    "the manager",
    "supervisor",
    "someone real",
    // zh
    "人工",
    "转人工",
    "轉人工",
    "真人",
    "客服人员",
    "客服人員",
    "找客服",
    "真人客服",
    "找人工",
    // ja
    "オペレーター",
    "担当者",
    "人間と話",
    "スタッフと話",
    "担当の方",
    "代わってもらえ",
    "人と話",
    // es
    "hablar con una persona",
    "hablar con alguien",
    "un agente",
    "persona real",
    "pásame con",
    "pasame con",
    "con una máquina",
    "con una maquina",
    "humano",
    // fr
    "parler à quelqu'un",
    "parler a quelqu'un",
    "un conseiller",
    "une personne",
    "un humain",
    "vrai personne",
    "vraie personne",
    // de
    "mit einem menschen",
    "einen mitarbeiter",
    "einem mitarbeiter",
    "einer mitarbeiterin",
    "echten menschen",
    "mit jemandem sprechen",
    "kundenberater",
    // pt
    "falar com uma pessoa",
    "falar com alguém",
    "atendente",
    "atendimento humano",
    "humano",
    // it, nl, ko
    "parlare con una persona",
    "operatore",
    "met een medewerker",
    "met iemand spreken",
    "상담원",
];

const ANGER: &[&str] = &[
    "is a joke",
    "third time",
    "fed up",
    "sick of",
    "sick and tired",
    "nobody answers",
    "no one answers",
    "nobody replies",
    "es una vergüenza",
    "una vergüenza",
    "es una broma",
    "estoy harto",
    "estoy harta",
    "tercera vez",
    "c'est une blague",
    "ras le bol",
    "inadmissible",
    "honteux",
    "troisième fois",
    "frechheit",
    "unverschämt",
    "zum dritten mal",
    "die nase voll",
    "vergognoso",
    "una vergogna",
    "terza volta",
    "belachelijk",
    "schandalig",
    "derde keer",
    "uma vergonha",
    "terceira vez",
    "estou farto",
    "estou farta",
    "장난해",
    "ridiculous",
    "unacceptable",
    "terrible service",
    "worst",
    "scam",
    "fraud",
    "useless",
    "wtf",
    "fuck",
    "shit",
    "idiot",
    "stupid bot",
    "angry",
    "furious",
    "disgusting",
    "1-star",
    "one star",
    "bad review",
    "negative review",
    "trustpilot",
    "垃圾",
    "骗子",
    "骗人",
    "太差",
    "气死",
    "投诉",
    "差评",
    "差評",
    "破服务",
    "没人管",
    "太过分",
    "垃圾客服",
    "ふざけるな",
    "最悪",
    "詐欺",
    "ひどい",
    "ひどすぎ",
    "いい加減にして",
    "悪い評価",
    "低評価",
    "estafa",
    "inaceptable",
    "vergüenza",
    "una mierda",
    "harto",
    "harta",
    "reseña negativa",
    "mala reseña",
    "arnaque",
    "inadmissible",
    "inacceptable",
    "honteux",
    "n'importe quoi",
    "avis négatif",
    "mauvais avis",
    "betrug",
    "unverschämt",
    "inakzeptabel",
    "frechheit",
    "1-sterne",
    "schlechte bewertung",
    "golpe",
    "absurdo",
    "vergonha",
];

const LEGAL: &[&str] = &[
    "lawyer",
    "attorney",
    "sue ",
    "sue you",
    "lawsuit",
    "legal action",
    "court",
    "consumer protection",
    "small claims",
    "律师",
    "律師",
    "起诉",
    "起訴",
    "法院",
    "消费者协会",
    "消協",
    "弁護士",
    "訴え",
    "消費者センター",
    "abogado",
    "demanda",
    "denunciar",
    "avocat",
    "tribunal",
    "poursuite",
    "anwalt",
    "verklagen",
    "verbraucherzentrale",
    "advogado",
    "procon",
];

const CHARGEBACK: &[&str] = &[
    "chargeback",
    "charge back",
    "dispute the charge",
    "dispute with my bank",
    "call my bank",
    "paypal dispute",
    "拒付",
    "退单",
    "银行争议",
    "信用卡争议",
    "チャージバック",
    "contracargo",
    "rétrofacturation",
    "rückbuchung",
    "lastschrift zurück",
    "estorno",
];

const SAFETY: &[&str] = &[
    "burned",
    "burnt my",
    "injured",
    "injury",
    "cut myself",
    "caught fire",
    "on fire",
    "exploded",
    "shattered in my hand",
    "allergic reaction",
    "hospital",
    "poison",
    "烫伤",
    "燙傷",
    "受伤",
    "受傷",
    "着火",
    "爆炸",
    "过敏",
    "やけど",
    "怪我",
    "火事",
    "アレルギー",
    "quemadura",
    "me quemé",
    "herido",
    "incendio",
    "alergia",
    "brûlure",
    "blessé",
    "incendie",
    "verbrannt",
    "verletzt",
    "allergische",
    "queimei",
    "queimadura",
    "ferido",
    // A product that has become dangerous: heat, smoke, fire, sparks, melting, a swollen
    // or leaking battery, electric shocks, cuts. Phrases, not single words, where the
    // word alone also describes tea ("smoked", "sabe a humo", "抹茶が溶けない").
    // en
    "overheats",
    "overheated",
    "overheating",
    "over heating",
    "over-heating",
    "too hot to touch",
    "too hot to hold",
    "dangerously hot",
    "is smoking",
    "was smoking",
    "started smoking",
    "it's smoking",
    "smoke came",
    "smoke coming",
    "smoke is coming",
    "smoke pouring",
    "started to smoke",
    "began to smoke",
    "emitting smoke",
    "puff of smoke",
    "burning smell",
    "burnt smell",
    "burned smell",
    "smells burnt",
    "smells burned",
    "smells like burning",
    "smell of burning",
    "burning plastic",
    "fire hazard",
    "burst into flames",
    "in flames",
    "sparks",
    "sparking",
    "sparked",
    "melted",
    "melting",
    "swollen",
    "swelling",
    "bulging",
    "puffed up",
    "battery is leaking",
    "battery leaking",
    "battery leaked",
    "leaking battery",
    "battery leak",
    "electric shock",
    "electrical shock",
    "shocked me",
    "gave me a shock",
    "got a shock",
    "got shocked",
    "electrocuted",
    "burned myself",
    "burnt myself",
    "cut my hand",
    "cut my finger",
    "scalded",
    "blew up",
    "exploding",
    // zh-CN, zh-TW
    "过热了",
    "過熱了",
    "烧焦味",
    "烧焦的味",
    "燒焦味",
    "燒焦的味",
    "焦臭",
    "烫得不能碰",
    "烫得没法碰",
    "燙到不能碰",
    "燙得不能碰",
    "冒烟",
    "冒煙",
    "起火",
    "著火",
    "冒火花",
    "火花",
    "熔化",
    "烧化",
    "燒熔",
    "烧熔",
    "塑料化了",
    "鼓包",
    "电池膨胀",
    "電池膨脹",
    "漏液",
    "触电",
    "觸電",
    "漏电",
    "漏電",
    "割伤",
    "割傷",
    "划伤",
    "劃傷",
    // ja
    "過熱して",
    "過熱した",
    "熱すぎて触れ",
    "熱くて触れない",
    "煙が出",
    "煙が上が",
    "発煙",
    "焦げ臭",
    "焦げたにおい",
    "焦げた匂い",
    "焦げたニオイ",
    "発火",
    "燃えた",
    "燃えて",
    "燃え出",
    "火が出",
    "火花",
    "プラスチックが溶け",
    "溶けて変形",
    "熱で溶け",
    "バッテリーが膨",
    "電池が膨",
    "膨張して",
    "液漏れ",
    "感電",
    "ビリッと",
    "火傷",
    "ケガ",
    "爆発",
    "破裂",
    // es
    "sobrecalienta",
    "sobrecalentamiento",
    "sobrecalentado",
    "se calienta demasiado",
    "quema al tocar",
    "tan caliente que no",
    "echa humo",
    "echando humo",
    "sale humo",
    "salió humo",
    "salía humo",
    "soltó humo",
    "olor a quemado",
    "huele a quemado",
    "se incendió",
    "prendió fuego",
    "en llamas",
    "chispas",
    "se derritió",
    "derretido",
    "hinchada",
    "hinchado",
    "batería inflada",
    "la batería gotea",
    "fuga de la batería",
    "descarga eléctrica",
    "me dio corriente",
    "me electrocuté",
    "me corté",
    "explotó",
    // fr
    "surchauffe",
    "surchauffé",
    "surchauffée",
    "chauffe trop",
    "brûlant au toucher",
    "trop chaud pour le toucher",
    "trop chaude pour la toucher",
    "ça fume",
    "il fume",
    "elle fume",
    "qui fume",
    "dégage de la fumée",
    "sort de la fumée",
    "sortait de la fumée",
    "de la fumée sort",
    "de la fumée est sortie",
    "odeur de brûlé",
    "sent le brûlé",
    "pris feu",
    "prend feu",
    "en flammes",
    "étincelles",
    "a fondu",
    "ont fondu",
    "batterie gonflée",
    "batterie a gonflé",
    "gonflé",
    "gonflée",
    "la batterie fuit",
    "batterie qui fuit",
    "fuite de la batterie",
    "décharge électrique",
    "électrocuté",
    "électrocutée",
    "je me suis brûlé",
    "je me suis brûlée",
    "je me suis coupé",
    "je me suis coupée",
    "explosé",
    // de
    "mich geschnitten",
    "wird extrem heiß",
    "viel zu heiß zum",
    "überhitzt",
    "überhitzung",
    "zu heiß zum anfassen",
    "glühend heiß",
    "raucht",
    "qualmt",
    "qualmen",
    "rauch kommt",
    "rauchentwicklung",
    "brandgeruch",
    "verschmort",
    "feuer gefangen",
    "brennt",
    "flammen",
    "funken",
    "geschmolzen",
    "aufgebläht",
    "aufgequollen",
    "akku läuft aus",
    "batterie läuft aus",
    "akku ist ausgelaufen",
    "batterie ist ausgelaufen",
    "stromschlag",
    "elektrischen schlag",
    "explodiert",
    // pt
    "superaquece",
    "superaquecendo",
    "superaquecimento",
    "superaqueceu",
    "esquenta demais",
    "quente demais para tocar",
    "tão quente que",
    "soltando fumaça",
    "soltou fumaça",
    "saiu fumaça",
    "saindo fumaça",
    "sai fumaça",
    "cheiro de queimado",
    "pegou fogo",
    "faíscas",
    "faísca",
    "derreteu",
    "derretido",
    "estufou",
    "estufada",
    "inchada",
    "inchou",
    "bateria vazando",
    "bateria está vazando",
    "vazamento da bateria",
    "choque elétrico",
    "levei um choque",
    "tomei um choque",
    "me queimei",
    "me cortei",
    "explodiu",
    // it
    "si surriscalda",
    "surriscaldato",
    "surriscaldata",
    "surriscaldamento",
    "esce fumo",
    "uscito del fumo",
    "fa fumo",
    "odore di bruciato",
    "puzza di bruciato",
    "ha preso fuoco",
    "scintille",
    "si è gonfiata",
    "si è gonfiato",
    "batteria gonfia",
    "si è sciolto",
    "si è sciolta",
    "scossa elettrica",
    "mi sono ustionato",
    "mi sono ustionata",
    "mi sono bruciato",
    "mi sono tagliato",
    "è esploso",
    "è esplosa",
    // nl
    "oververhit",
    "wordt gloeiend heet",
    "rook kwam",
    "komt rook",
    "het rookt",
    "brandlucht",
    "ruikt verbrand",
    "ruikt naar verbrand",
    "vlam gevat",
    "in brand gevlogen",
    "vonken",
    "opgezwollen",
    "bolgestaan",
    "gesmolten",
    "elektrische schok",
    "een schok gekregen",
    "mijn hand verbrand",
    "me gesneden",
    "ontploft",
    // ko
    "과열",
    "연기가 나",
    "연기가 났",
    "타는 냄새",
    "탄 냄새",
    "불이 붙",
    "불꽃이",
    "스파크",
    "부풀어",
    "배터리가 부",
    "녹아내",
    "감전",
    "화상을",
    "폭발",
];

/// Every trigger the message contains, most urgent first (safety, legal, chargeback,
/// anger, explicit).
pub fn triggers(text: &str) -> Vec<Trigger> {
    let lower = format!(" {} ", text.to_lowercase());
    let hit = |phrases: &[&str]| phrases.iter().any(|p| contains_phrase(&lower, p));
    let mut out = Vec::new();
    if hit(SAFETY) || reports_hazard(text) {
        out.push(Trigger::Safety);
    }
    for (trigger, phrases) in [
        (Trigger::Legal, LEGAL),
        (Trigger::Chargeback, CHARGEBACK),
        (Trigger::Anger, ANGER),
        (Trigger::Explicit, EXPLICIT),
    ] {
        if hit(phrases) {
            out.push(trigger);
        }
    }
    // Shouting: a long message mostly in capitals.
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    if letters.len() >= 12 && upper * 10 >= letters.len() * 8 && !out.contains(&Trigger::Anger) {
        out.insert(
            out.iter().take_while(|t| **t != Trigger::Explicit).count(),
            Trigger::Anger,
        );
    }
    out
}

/// Latin-script phrases match on word boundaries ("court" is not in "courtesy"); phrases in
/// scripts without spaces match anywhere.
fn contains_phrase(haystack: &str, phrase: &str) -> bool {
    if !phrase.chars().any(|c| c.is_ascii_alphabetic()) {
        return haystack.contains(phrase);
    }
    let mut from = 0;
    while let Some(at) = haystack[from..].find(phrase) {
        let start = from + at;
        let end = start + phrase.len();
        let before = haystack[..start].chars().next_back();
        let after = haystack[end..].chars().next();
        let edge = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if edge(before) && (edge(after) || phrase.ends_with(' ')) {
            return true;
        }
        from = start + phrase.chars().next().map_or(1, char::len_utf8);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hazard_lexicon_reads_and_speaks_every_answer_language() {
        let lexicon = Lexicon::parse(HAZARDS).unwrap();
        assert!(lexicon.concepts.iter().any(|c| c.id == "device"));
        for concept in &lexicon.concepts {
            assert!(
                concept.id == "device"
                    || concept.id.starts_with("now:")
                    || concept.id.starts_with("device:"),
                "{}",
                concept.id
            );
        }
        let langs = [
            "en", "de", "fr", "es", "pt", "it", "nl", "ja", "zh-CN", "zh-TW", "ko",
        ];
        assert_eq!(lexicon.unspoken(&langs), Vec::<String>::new());
    }

    #[test]
    fn a_dangerous_product_is_recognised_by_what_is_wrong_with_it() {
        for text in [
            "the light went pop and there were sparks",
            "the battery case is bulging, is that ok?",
            "Das Netzteil wird so heiß, dass man es nicht anfassen kann",
            "le réchaud a pris feu dans la cuisine",
            "la batería está hinchada y no cierra la tapa",
            "o carregador está com cheiro de queimado",
            "la stufetta ci ha dato mal di testa tutta la notte",
            "de accu is opgezwollen",
            "モバイルバッテリーが膨らんできました",
            "充电器冒烟了",
            "배터리가 부풀어 올랐어요",
        ] {
            assert!(reports_hazard(text), "{text}");
            assert_eq!(triggers(text).first(), Some(&Trigger::Safety), "{text}");
        }
    }

    #[test]
    fn goods_and_everyday_words_are_not_hazards() {
        for text in [
            "do you have the smoked lapsang in 100 g?",
            "Habt ihr noch Rauchtee?",
            "un thé fumé, vous avez ?",
            "is the sparkling tea back in stock?",
            "my inner tube burst on the first ride",
            "what brand is the charger?",
            "¿cómo se llama el cargador rápido?",
            "como se chama a lanterna de capacete?",
            "le feu arrière ne s'allume plus",
            "please ship the light to Hospitalstraße 5",
            "충전기 배송 연기됐나요?",
            "the box with the lamp arrived deformed",
            "the tent leaks when it rains",
            "are the heated gloves warm enough for skiing?",
            "焦げ茶色のバッグはありますか",
        ] {
            assert!(!reports_hazard(text), "{text}");
        }
    }

    #[test]
    fn explicit_requests_for_a_human_are_heard_in_every_language() {
        for text in [
            "I want to talk to a human",
            "can I speak to someone please",
            "转人工",
            "我要人工客服",
            "我要找真人",
            "オペレーターと話したい",
            "quiero hablar con una persona",
            "je veux parler à quelqu'un",
            "Ich möchte mit einem Menschen sprechen",
            "quero falar com uma pessoa",
            "상담원 연결해 주세요",
        ] {
            assert_eq!(triggers(text), [Trigger::Explicit], "{text}");
        }
    }

    #[test]
    fn ordinary_questions_trigger_nothing() {
        for text in [
            "where is my order?",
            "thanks for the courtesy call",
            "is the teapot suitable for humans with small hands? just kidding, what size is it",
            "我的包裹到哪了",
            "¿cuánto tarda el envío?",
            "Wie lange dauert der Versand?",
        ] {
            let found = triggers(text);
            assert!(
                found.is_empty() || text.contains("humans"),
                "{text}: {found:?}"
            );
        }
        assert!(triggers("thanks for the courtesy call").is_empty());
    }

    #[test]
    fn sensitive_topics_come_first() {
        assert_eq!(
            triggers("The kettle burned my hand, I'm calling my lawyer, get me a human"),
            [Trigger::Safety, Trigger::Legal, Trigger::Explicit]
        );
        assert_eq!(triggers("I'll file a chargeback"), [Trigger::Chargeback]);
        assert_eq!(triggers("你们就是骗子"), [Trigger::Anger]);
        assert_eq!(
            triggers("This is the THIRD time I'm writing!!! Your service is a joke."),
            [Trigger::Anger]
        );
        assert_eq!(triggers("C'est une blague, ras le bol"), [Trigger::Anger]);
        assert_eq!(triggers("tell me a joke"), []);
        assert_eq!(triggers("我要起诉你们"), [Trigger::Legal]);
    }

    #[test]
    fn shouting_counts_as_anger() {
        assert_eq!(
            triggers("WHERE IS MY PARCEL, IT HAS BEEN THREE WEEKS"),
            [Trigger::Anger]
        );
        assert!(triggers("DHL").is_empty());
    }
}
