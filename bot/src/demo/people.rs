//! Where the demo shop's customers live and what they are called.

#[derive(Debug)]
pub struct City {
    pub name: &'static str,
    pub province: &'static str,
    pub zip: &'static str,
    pub street: &'static str,
}

#[derive(Debug)]
pub struct Country {
    pub code: &'static str,
    pub locale: &'static str,
    pub time_zones: &'static [&'static str],
    /// Relative share of customers.
    pub share: u32,
    pub dial: &'static str,
    /// (name as written, Latin spelling for the e-mail address)
    pub given: &'static [(&'static str, &'static str)],
    pub family: &'static [(&'static str, &'static str)],
    pub family_first: bool,
    pub cities: &'static [City],
    pub carriers: &'static [&'static str],
    /// Standard delivery, business days (min, max).
    pub transit_days: (i64, i64),
    pub eu_warehouse: bool,
    pub telegram_share: f64,
    pub payment_methods: &'static [&'static str],
}

const CARDS: &[&str] = &["Visa", "Mastercard", "American Express", "PayPal", "Apple Pay", "Google Pay"];

pub const COUNTRIES: &[Country] = &[
    Country {
        code: "US", locale: "en-US", time_zones: &["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"],
        share: 30, dial: "+1",
        given: &[("Emily", "emily"), ("James", "james"), ("Olivia", "olivia"), ("Michael", "michael"), ("Sophia", "sophia"), ("David", "david"), ("Ava", "ava"), ("Daniel", "daniel"), ("Grace", "grace"), ("Ethan", "ethan")],
        family: &[("Johnson", "johnson"), ("Smith", "smith"), ("Williams", "williams"), ("Brown", "brown"), ("Miller", "miller"), ("Davis", "davis"), ("Nguyen", "nguyen"), ("Kim", "kim"), ("Lopez", "lopez"), ("Taylor", "taylor")],
        family_first: false,
        cities: &[
            City { name: "Brooklyn", province: "NY", zip: "11201", street: "Atlantic Ave" },
            City { name: "Chicago", province: "IL", zip: "60614", street: "N Clark St" },
            City { name: "Austin", province: "TX", zip: "78704", street: "S Congress Ave" },
            City { name: "Seattle", province: "WA", zip: "98103", street: "Fremont Ave N" },
            City { name: "Portland", province: "OR", zip: "97214", street: "SE Hawthorne Blvd" },
        ],
        carriers: &["UPS", "USPS"], transit_days: (3, 7), eu_warehouse: false, telegram_share: 0.15,
        payment_methods: CARDS,
    },
    Country {
        code: "CN", locale: "zh-CN", time_zones: &["Asia/Shanghai"], share: 15, dial: "+86",
        given: &[("芳", "fang"), ("伟", "wei"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("磊", "lei"), ("洋", "yang"), ("婷", "ting"), ("杰", "jie"), ("雪", "xue")],
        family: &[("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("周", "zhou"), ("吴", "wu")],
        family_first: true,
        cities: &[
            City { name: "上海", province: "上海", zip: "200040", street: "南京西路" },
            City { name: "北京", province: "北京", zip: "100020", street: "建国路" },
            City { name: "深圳", province: "广东", zip: "518000", street: "深南大道" },
            City { name: "杭州", province: "浙江", zip: "310000", street: "文三路" },
        ],
        carriers: &["SF Express", "DHL"], transit_days: (7, 14), eu_warehouse: false, telegram_share: 0.35,
        payment_methods: &["Alipay", "WeChat Pay", "Visa", "Mastercard"],
    },
    Country {
        code: "ES", locale: "es-ES", time_zones: &["Europe/Madrid"], share: 10, dial: "+34",
        given: &[("Lucía", "lucia"), ("Javier", "javier"), ("Carmen", "carmen"), ("Pablo", "pablo"), ("Marta", "marta"), ("Sergio", "sergio"), ("Elena", "elena"), ("Álvaro", "alvaro")],
        family: &[("García", "garcia"), ("Martínez", "martinez"), ("López", "lopez"), ("Sánchez", "sanchez"), ("Romero", "romero"), ("Navarro", "navarro"), ("Torres", "torres")],
        family_first: false,
        cities: &[
            City { name: "Madrid", province: "M", zip: "28004", street: "Calle de Fuencarral" },
            City { name: "Barcelona", province: "B", zip: "08010", street: "Carrer de Girona" },
            City { name: "Valencia", province: "V", zip: "46004", street: "Carrer de Colón" },
        ],
        carriers: &["Correos", "DHL"], transit_days: (5, 10), eu_warehouse: true, telegram_share: 0.3,
        payment_methods: &["Visa", "Mastercard", "PayPal", "Klarna"],
    },
    Country {
        code: "MX", locale: "es-MX", time_zones: &["America/Mexico_City"], share: 6, dial: "+52",
        given: &[("Sofía", "sofia"), ("Diego", "diego"), ("Valentina", "valentina"), ("Mateo", "mateo"), ("Ximena", "ximena"), ("Santiago", "santiago")],
        family: &[("Hernández", "hernandez"), ("González", "gonzalez"), ("Ramírez", "ramirez"), ("Flores", "flores"), ("Morales", "morales"), ("Cruz", "cruz")],
        family_first: false,
        cities: &[
            City { name: "Ciudad de México", province: "CDMX", zip: "06700", street: "Avenida Álvaro Obregón" },
            City { name: "Guadalajara", province: "JAL", zip: "44160", street: "Avenida Chapultepec" },
        ],
        carriers: &["DHL", "UPS"], transit_days: (7, 14), eu_warehouse: false, telegram_share: 0.3,
        payment_methods: &["Visa", "Mastercard", "PayPal"],
    },
    Country {
        code: "GB", locale: "en-GB", time_zones: &["Europe/London"], share: 7, dial: "+44",
        given: &[("Oliver", "oliver"), ("Amelia", "amelia"), ("Harry", "harry"), ("Isla", "isla"), ("George", "george"), ("Poppy", "poppy")],
        family: &[("Jones", "jones"), ("Evans", "evans"), ("Wilson", "wilson"), ("Patel", "patel"), ("Wright", "wright"), ("Hughes", "hughes")],
        family_first: false,
        cities: &[
            City { name: "London", province: "", zip: "E2 7DG", street: "Columbia Road" },
            City { name: "Manchester", province: "", zip: "M4 1HN", street: "Oldham Street" },
        ],
        carriers: &["DHL"], transit_days: (5, 10), eu_warehouse: true, telegram_share: 0.15,
        payment_methods: &["Visa", "Mastercard", "PayPal", "Apple Pay", "Klarna"],
    },
    Country {
        code: "DE", locale: "de-DE", time_zones: &["Europe/Berlin"], share: 7, dial: "+49",
        given: &[("Lukas", "lukas"), ("Hannah", "hannah"), ("Leon", "leon"), ("Mia", "mia"), ("Jonas", "jonas"), ("Lea", "lea")],
        family: &[("Müller", "mueller"), ("Schmidt", "schmidt"), ("Schneider", "schneider"), ("Fischer", "fischer"), ("Weber", "weber"), ("Wagner", "wagner")],
        family_first: false,
        cities: &[
            City { name: "Berlin", province: "", zip: "10997", street: "Oranienstraße" },
            City { name: "Hamburg", province: "", zip: "20357", street: "Schanzenstraße" },
            City { name: "München", province: "", zip: "80469", street: "Gärtnerplatz" },
        ],
        carriers: &["DHL"], transit_days: (5, 10), eu_warehouse: true, telegram_share: 0.25,
        payment_methods: &["PayPal", "Klarna", "Visa", "Mastercard"],
    },
    Country {
        code: "FR", locale: "fr-FR", time_zones: &["Europe/Paris"], share: 7, dial: "+33",
        given: &[("Camille", "camille"), ("Louis", "louis"), ("Chloé", "chloe"), ("Hugo", "hugo"), ("Léa", "lea"), ("Jules", "jules")],
        family: &[("Martin", "martin"), ("Bernard", "bernard"), ("Dubois", "dubois"), ("Lefèvre", "lefevre"), ("Moreau", "moreau"), ("Laurent", "laurent")],
        family_first: false,
        cities: &[
            City { name: "Paris", province: "", zip: "75011", street: "Rue Oberkampf" },
            City { name: "Lyon", province: "", zip: "69002", street: "Rue de la République" },
        ],
        carriers: &["DHL"], transit_days: (5, 10), eu_warehouse: true, telegram_share: 0.2,
        payment_methods: &["Visa", "Mastercard", "PayPal", "Apple Pay"],
    },
    Country {
        code: "JP", locale: "ja-JP", time_zones: &["Asia/Tokyo"], share: 6, dial: "+81",
        given: &[("ゆき", "yuki"), ("健太", "kenta"), ("さくら", "sakura"), ("翔", "sho"), ("美咲", "misaki"), ("大輔", "daisuke")],
        family: &[("田中", "tanaka"), ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("伊藤", "ito"), ("渡辺", "watanabe")],
        family_first: true,
        cities: &[
            City { name: "東京", province: "東京都", zip: "150-0001", street: "神宮前" },
            City { name: "大阪", province: "大阪府", zip: "530-0001", street: "梅田" },
        ],
        carriers: &["DHL", "UPS"], transit_days: (7, 14), eu_warehouse: false, telegram_share: 0.1,
        payment_methods: &["Visa", "Mastercard", "American Express", "PayPal"],
    },
    Country {
        code: "TW", locale: "zh-TW", time_zones: &["Asia/Taipei"], share: 3, dial: "+886",
        given: &[("怡君", "yijun"), ("家豪", "jiahao"), ("雅婷", "yating"), ("冠宇", "guanyu")],
        family: &[("林", "lin"), ("陳", "chen"), ("黃", "huang"), ("張", "chang")],
        family_first: true,
        cities: &[City { name: "台北", province: "台北市", zip: "106", street: "忠孝東路" }],
        carriers: &["DHL", "SF Express"], transit_days: (7, 14), eu_warehouse: false, telegram_share: 0.3,
        payment_methods: &["Visa", "Mastercard", "PayPal", "Apple Pay"],
    },
    Country {
        code: "BR", locale: "pt-BR", time_zones: &["America/Sao_Paulo"], share: 4, dial: "+55",
        given: &[("Ana", "ana"), ("João", "joao"), ("Beatriz", "beatriz"), ("Pedro", "pedro"), ("Larissa", "larissa")],
        family: &[("Silva", "silva"), ("Santos", "santos"), ("Oliveira", "oliveira"), ("Souza", "souza"), ("Costa", "costa")],
        family_first: false,
        cities: &[City { name: "São Paulo", province: "SP", zip: "01310-100", street: "Avenida Paulista" }],
        carriers: &["DHL"], transit_days: (7, 14), eu_warehouse: false, telegram_share: 0.35,
        payment_methods: &["Visa", "Mastercard", "PayPal"],
    },
    Country {
        code: "CA", locale: "en-CA", time_zones: &["America/Toronto", "America/Vancouver"], share: 5, dial: "+1",
        given: &[("Liam", "liam"), ("Charlotte", "charlotte"), ("Noah", "noah"), ("Emma", "emma"), ("Lucas", "lucas")],
        family: &[("Tremblay", "tremblay"), ("Roy", "roy"), ("Campbell", "campbell"), ("Chen", "chen"), ("MacDonald", "macdonald")],
        family_first: false,
        cities: &[
            City { name: "Toronto", province: "ON", zip: "M5V 2T6", street: "Queen St W" },
            City { name: "Vancouver", province: "BC", zip: "V6B 1A1", street: "Granville St" },
        ],
        carriers: &["UPS", "DHL"], transit_days: (5, 10), eu_warehouse: false, telegram_share: 0.15,
        payment_methods: CARDS,
    },
];

/// Fixed customers at the start of the list, so docs, demos and eval cases can name them.
pub struct Persona {
    pub name: &'static str,
    pub email_local: &'static str,
    pub country: &'static str,
    pub weight: f64,
}

pub const PERSONAS: &[Persona] = &[
    Persona { name: "王芳", email_local: "wang.fang", country: "CN", weight: 4.0 },
    Persona { name: "Emily Johnson", email_local: "emily.johnson", country: "US", weight: 5.0 },
    Persona { name: "Lucía García", email_local: "lucia.garcia", country: "ES", weight: 3.0 },
    Persona { name: "田中ゆき", email_local: "yuki.tanaka", country: "JP", weight: 2.5 },
    Persona { name: "Lukas Müller", email_local: "lukas.mueller", country: "DE", weight: 2.0 },
    Persona { name: "Camille Martin", email_local: "camille.martin", country: "FR", weight: 2.0 },
];
