//! Countries by name, in the languages kefu answers in: "España", "Allemagne", "台灣" and
//! "the UK" are the same countries as a shipping table's "ES", "DE", "TW" and "GB". Shops
//! write shipping zones, thresholds and customs rules per country, often as ISO codes;
//! customers name the country in their own language.

/// One country: its ISO 3166-1 alpha-2 code and its names, lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    pub code: &'static str,
    pub names: &'static [&'static str],
}

/// ISO code, then names in English, German, French, Spanish, Portuguese, Italian, Dutch,
/// Japanese, Simplified and Traditional Chinese (and common short forms).
const COUNTRIES: &[Country] = &[
    c(
        "DE",
        &[
            "germany",
            "deutschland",
            "allemagne",
            "alemania",
            "alemanha",
            "germania",
            "duitsland",
            "ドイツ",
            "德国",
            "德國",
        ],
    ),
    c(
        "AT",
        &[
            "austria",
            "österreich",
            "autriche",
            "áustria",
            "oostenrijk",
            "オーストリア",
            "奥地利",
            "奧地利",
        ],
    ),
    c(
        "CH",
        &[
            "switzerland",
            "schweiz",
            "suisse",
            "suiza",
            "suíça",
            "svizzera",
            "zwitserland",
            "スイス",
            "瑞士",
        ],
    ),
    c(
        "FR",
        &[
            "france",
            "frankreich",
            "francia",
            "frança",
            "frankrijk",
            "フランス",
            "法国",
            "法國",
        ],
    ),
    c(
        "BE",
        &[
            "belgium",
            "belgien",
            "belgique",
            "bélgica",
            "belgio",
            "belgië",
            "ベルギー",
            "比利时",
            "比利時",
        ],
    ),
    c(
        "NL",
        &[
            "netherlands",
            "the netherlands",
            "holland",
            "niederlande",
            "pays-bas",
            "países bajos",
            "países baixos",
            "paesi bassi",
            "olanda",
            "nederland",
            "オランダ",
            "荷兰",
            "荷蘭",
        ],
    ),
    c(
        "LU",
        &[
            "luxembourg",
            "luxemburg",
            "luxemburgo",
            "lussemburgo",
            "ルクセンブルク",
            "卢森堡",
            "盧森堡",
        ],
    ),
    c(
        "DK",
        &[
            "denmark",
            "dänemark",
            "danemark",
            "dinamarca",
            "danimarca",
            "denemarken",
            "デンマーク",
            "丹麦",
            "丹麥",
        ],
    ),
    c(
        "ES",
        &[
            "spain",
            "spanien",
            "espagne",
            "españa",
            "espanha",
            "spagna",
            "spanje",
            "スペイン",
            "西班牙",
        ],
    ),
    c("PT", &["portugal", "portogallo", "ポルトガル", "葡萄牙"]),
    c(
        "IT",
        &[
            "italy",
            "italien",
            "italie",
            "italia",
            "itália",
            "italië",
            "イタリア",
            "意大利",
            "義大利",
        ],
    ),
    c(
        "IE",
        &[
            "ireland",
            "irland",
            "irlande",
            "irlanda",
            "ierland",
            "アイルランド",
            "爱尔兰",
            "愛爾蘭",
        ],
    ),
    c(
        "PL",
        &[
            "poland",
            "polen",
            "pologne",
            "polonia",
            "polônia",
            "polónia",
            "ポーランド",
            "波兰",
            "波蘭",
        ],
    ),
    c(
        "CZ",
        &[
            "czech republic",
            "czechia",
            "tschechien",
            "république tchèque",
            "tchéquie",
            "república checa",
            "chequia",
            "república tcheca",
            "repubblica ceca",
            "tsjechië",
            "チェコ",
            "捷克",
        ],
    ),
    c(
        "SE",
        &[
            "sweden",
            "schweden",
            "suède",
            "suecia",
            "suécia",
            "svezia",
            "zweden",
            "スウェーデン",
            "瑞典",
        ],
    ),
    c(
        "FI",
        &[
            "finland",
            "finnland",
            "finlande",
            "finlandia",
            "finlândia",
            "フィンランド",
            "芬兰",
            "芬蘭",
        ],
    ),
    c(
        "NO",
        &[
            "norway",
            "norwegen",
            "norvège",
            "noruega",
            "norvegia",
            "noorwegen",
            "ノルウェー",
            "挪威",
        ],
    ),
    c(
        "GB",
        &[
            "united kingdom",
            "uk",
            "u.k.",
            "great britain",
            "britain",
            "england",
            "scotland",
            "wales",
            "großbritannien",
            "vereinigtes königreich",
            "royaume-uni",
            "angleterre",
            "reino unido",
            "inglaterra",
            "regno unito",
            "inghilterra",
            "verenigd koninkrijk",
            "engeland",
            "イギリス",
            "英国",
            "英國",
        ],
    ),
    c(
        "GR",
        &[
            "greece",
            "griechenland",
            "grèce",
            "grecia",
            "grécia",
            "griekenland",
            "ギリシャ",
            "希腊",
            "希臘",
        ],
    ),
    c(
        "HU",
        &[
            "hungary",
            "ungarn",
            "hongrie",
            "hungría",
            "hungria",
            "ungheria",
            "hongarije",
            "ハンガリー",
            "匈牙利",
        ],
    ),
    c(
        "RO",
        &[
            "romania",
            "rumänien",
            "roumanie",
            "rumania",
            "romênia",
            "roménia",
            "roemenië",
            "ルーマニア",
            "罗马尼亚",
            "羅馬尼亞",
        ],
    ),
    c(
        "HR",
        &[
            "croatia",
            "kroatien",
            "croatie",
            "croacia",
            "croácia",
            "croazia",
            "kroatië",
            "クロアチア",
            "克罗地亚",
            "克羅埃西亞",
        ],
    ),
    c(
        "SI",
        &[
            "slovenia",
            "slowenien",
            "slovénie",
            "eslovenia",
            "eslovênia",
            "slovenië",
            "スロベニア",
            "斯洛文尼亚",
        ],
    ),
    c(
        "SK",
        &[
            "slovakia",
            "slowakei",
            "slovaquie",
            "eslovaquia",
            "eslováquia",
            "slovacchia",
            "slowakije",
            "スロバキア",
            "斯洛伐克",
        ],
    ),
    c(
        "EE",
        &[
            "estonia",
            "estland",
            "estonie",
            "estônia",
            "エストニア",
            "爱沙尼亚",
        ],
    ),
    c(
        "LV",
        &[
            "latvia",
            "lettland",
            "lettonie",
            "letonia",
            "letônia",
            "lettonia",
            "letland",
            "ラトビア",
            "拉脱维亚",
        ],
    ),
    c(
        "LT",
        &[
            "lithuania",
            "litauen",
            "lituanie",
            "lituania",
            "lituânia",
            "litouwen",
            "リトアニア",
            "立陶宛",
        ],
    ),
    c(
        "BG",
        &[
            "bulgaria",
            "bulgarien",
            "bulgarie",
            "bulgária",
            "bulgarije",
            "ブルガリア",
            "保加利亚",
        ],
    ),
    c(
        "CY",
        &[
            "cyprus",
            "zypern",
            "chypre",
            "chipre",
            "cipro",
            "キプロス",
            "塞浦路斯",
        ],
    ),
    c("MT", &["malta", "malte", "マルタ", "马耳他"]),
    c(
        "IS",
        &[
            "iceland",
            "islande",
            "islandia",
            "islândia",
            "islanda",
            "ijsland",
            "アイスランド",
            "冰岛",
            "冰島",
        ],
    ),
    c(
        "US",
        &[
            "united states",
            "usa",
            "u.s.",
            "u.s.a.",
            "america",
            "vereinigte staaten",
            "états-unis",
            "etats-unis",
            "estados unidos",
            "eeuu",
            "eua",
            "stati uniti",
            "verenigde staten",
            "アメリカ",
            "米国",
            "美国",
            "美國",
        ],
    ),
    c("CA", &["canada", "kanada", "canadá", "カナダ", "加拿大"]),
    c(
        "MX",
        &[
            "mexico",
            "méxico",
            "mexiko",
            "mexique",
            "messico",
            "メキシコ",
            "墨西哥",
        ],
    ),
    c(
        "BR",
        &[
            "brazil",
            "brasilien",
            "brésil",
            "brasil",
            "brasile",
            "brazilië",
            "ブラジル",
            "巴西",
        ],
    ),
    c(
        "AR",
        &[
            "argentina",
            "argentinien",
            "argentine",
            "argentinië",
            "アルゼンチン",
            "阿根廷",
        ],
    ),
    c("CL", &["chile", "chili", "cile", "チリ", "智利"]),
    c(
        "JP",
        &["japan", "japon", "japón", "japão", "giappone", "日本"],
    ),
    c(
        "CN",
        &[
            "china",
            "chine",
            "cina",
            "中国",
            "中國",
            "中国大陆",
            "中國大陸",
        ],
    ),
    c(
        "TW",
        &[
            "taiwan", "taïwan", "taiwán", "taiwã", "台湾", "台灣", "臺灣",
        ],
    ),
    c("HK", &["hong kong", "hongkong", "香港"]),
    c(
        "KR",
        &[
            "south korea",
            "korea",
            "südkorea",
            "corée du sud",
            "corée",
            "corea del sur",
            "corea",
            "coreia do sul",
            "coreia",
            "corea del sud",
            "zuid-korea",
            "韓国",
            "韩国",
            "韓國",
            "한국",
        ],
    ),
    c(
        "SG",
        &[
            "singapore",
            "singapur",
            "singapour",
            "singapura",
            "シンガポール",
            "新加坡",
        ],
    ),
    c(
        "AU",
        &[
            "australia",
            "australien",
            "australie",
            "austrália",
            "australië",
            "オーストラリア",
            "澳大利亚",
            "澳洲",
        ],
    ),
    c(
        "NZ",
        &[
            "new zealand",
            "neuseeland",
            "nouvelle-zélande",
            "nueva zelanda",
            "nova zelândia",
            "nuova zelanda",
            "nieuw-zeeland",
            "ニュージーランド",
            "新西兰",
            "紐西蘭",
        ],
    ),
    c(
        "IN",
        &["india", "indien", "inde", "índia", "インド", "印度"],
    ),
    c(
        "TR",
        &[
            "turkey",
            "türkei",
            "turquie",
            "turquía",
            "turquia",
            "turchia",
            "turkije",
            "türkiye",
            "トルコ",
            "土耳其",
        ],
    ),
    c(
        "IL",
        &["israel", "israël", "israele", "イスラエル", "以色列"],
    ),
    c(
        "AE",
        &[
            "united arab emirates",
            "uae",
            "vereinigte arabische emirate",
            "émirats arabes unis",
            "emiratos árabes unidos",
            "emirados árabes unidos",
            "emirati arabi uniti",
            "アラブ首長国連邦",
            "阿联酋",
        ],
    ),
    c(
        "ZA",
        &[
            "south africa",
            "südafrika",
            "afrique du sud",
            "sudáfrica",
            "áfrica do sul",
            "sudafrica",
            "zuid-afrika",
            "南アフリカ",
            "南非",
        ],
    ),
];

const fn c(code: &'static str, names: &'static [&'static str]) -> Country {
    Country { code, names }
}

/// The countries `text` names, in the order of the table, each once. Latin-script names
/// count as whole words ("uk", not "duke"); Chinese and Japanese ones anywhere.
pub fn named_in(text: &str) -> Vec<Country> {
    let lower = text.to_lowercase();
    COUNTRIES
        .iter()
        .filter(|country| country.names.iter().any(|name| mentions(&lower, name)))
        .copied()
        .collect()
}

/// Whether `text` mentions `country`: one of its names, or its ISO code written as a
/// code (upper case, on its own: "ES, PT, IT").
pub fn mentioned(text: &str, country: &Country) -> bool {
    let lower = text.to_lowercase();
    country.names.iter().any(|name| mentions(&lower, name))
        || text
            .split(|c: char| !c.is_ascii_alphabetic())
            .any(|word| word == country.code)
}

/// Whether lowercase `text` holds `name`: as whole words in Latin script, as a
/// substring in Chinese, Japanese or Korean.
fn mentions(text: &str, name: &str) -> bool {
    if name.chars().any(|c| c >= '\u{2E80}') {
        return text.contains(name);
    }
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<&'static str> {
        named_in(text).iter().map(|c| c.code).collect()
    }

    #[test]
    fn countries_are_named_in_many_languages() {
        assert_eq!(codes("el envío a España es gratis?"), ["ES"]);
        assert_eq!(codes("livraison en Belgique"), ["BE"]);
        assert_eq!(codes("寄到台灣運費多少"), ["TW"]);
        assert_eq!(codes("shipping to the UK?"), ["GB"]);
        assert_eq!(codes("Versand nach Österreich"), ["AT"]);
        assert_eq!(codes("the duke of york"), Vec::<&str>::new());
    }

    #[test]
    fn a_table_row_mentions_a_country_by_its_code() {
        let spain = named_in("España")[0];
        assert!(mentioned("| Zone 2 | ES, PT, IT | 12,90 € |", &spain));
        assert!(!mentioned(
            "| Zone 1 | AT, BE, FR | 8,90 € | es gratis |",
            &spain
        ));
        assert!(mentioned("España, Portugal e Italia: GLS", &spain));
    }
}
