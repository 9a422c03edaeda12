#!/usr/bin/env python3
"""Writes the validation shop "Ridgeline Cycles" (bicycles and outdoor gear, Freiburg,
Germany) as the exports its owner would import into kefu on day one:

    shop/products.csv       Shopify products export (English titles and descriptions)
    shop/products-de.csv    the same export from the German storefront
    shop/products-ja.csv    the same export from the Japanese storefront
    shop/customers.csv      kefu customers CSV
    shop/orders.csv         Shopify orders export, two years (2024-11-25 .. 2026-11-23)
    shop/shipments.csv      one row per carrier tracking event
    shop/personas.txt       the named customers' orders and parcels (the cases' facts)

The FAQ articles in shop/faq/ are written by hand and not touched by this script.

Python 3 standard library only; the output depends only on SEED.
Run: python3 evals/validation/generate.py
"""

import csv
import datetime as dt
import os
import random

SEED = 20261124
TODAY = dt.date(2026, 11, 24)
LAST = TODAY - dt.timedelta(days=1)  # the data ends the day before --today
START = dt.date(2024, 11, 25)
FORMAT_CHANGE = dt.date(2025, 9, 1)  # old store "#RC5001", new store "RC-10001-EU"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "shop")

rng = random.Random(SEED)

# --------------------------------------------------------------------------- products
# (handle, title, type, tags, price, option name, [(value, stock)], status, grams, desc)
# status: active | draft | archived (Shopify's Status column; drafts are unpublished).
P = []


def prod(handle, title, ptype, tags, price, desc, option=None, variants=None, status="active",
         grams=500, compare=None, stock=25):
    P.append(dict(handle=handle, title=title, type=ptype, tags=tags, price=price, desc=desc,
                  option=option, variants=variants or [("Default Title", stock)],
                  status=status, grams=grams, compare=compare))


SIZES = ["S", "M", "L", "XL"]
prod("talus-29-hardtail", "Talus 29 Hardtail Mountain Bike", "Bikes", "bike, mtb, freight", "1299.00",
     "Aluminium hardtail with 120 mm fork, 1x12 drivetrain and hydraulic disc brakes. Ships 95% assembled.",
     "Frame size", [("S", 2), ("M", 4), ("L", 0), ("XL", 1)], grams=14200)
prod("kestrel-gravel", "Kestrel Gravel Bike", "Bikes", "bike, gravel, freight", "1549.00",
     "Carbon fork, 700x40 tyres, 2x11 gearing, mounts for racks and three bottles.",
     "Frame size", [("50", 3), ("54", 5), ("56", 2), ("58", 0)], grams=10100)
prod("metro-8-city", "Metro 8 City Bike", "Bikes", "bike, city, freight", "749.00",
     "Eight-speed hub gear, dynamo lights, mudguards and rear rack.",
     "Frame size", [("S", 6), ("M", 7), ("L", 3)], grams=15800)
prod("vela-e-trekking", "Vela E-Trekking Bike 625", "E-bikes", "bike, e-bike, battery, freight, lithium", "3199.00",
     "Mid-drive motor, 625 Wh removable battery, 4 A charger included, range up to 140 km.",
     "Frame size", [("M", 2), ("L", 1)], grams=25400)
prod("sprout-20-kids", "Sprout 20 Kids Bike", "Bikes", "bike, kids, freight", "399.00",
     "20-inch wheels, 7 gears, light aluminium frame for riders from 6 to 9 years.",
     None, [("Default Title", 5)], grams=9800)
prod("powerpack-500", "PowerPack 500 Wh E-Bike Battery", "E-bike parts", "battery, lithium, dangerous-goods", "649.00",
     "Spare frame battery for Vela e-bikes. Ships by road only, within Germany, Austria, the Netherlands, Belgium, France and Luxembourg.",
     grams=2900, stock=4)
prod("powerpack-625", "PowerPack 625 Wh E-Bike Battery", "E-bike parts", "battery, lithium, dangerous-goods", "799.00",
     "Spare frame battery for Vela e-bikes, 625 Wh. Ships by road only.", grams=3400, stock=0)
prod("fastcharge-4a", "FastCharge 4A E-Bike Charger", "E-bike parts", "charger, e-bike", "129.00",
     "Original charger for PowerPack batteries, 100-240 V, EU plug. Charges 500 Wh in 3.5 hours.", grams=800, stock=12)
prod("lumen-400", "Lumen 400 Front Light (previous model)", "Lights", "light, usb-c, battery", "39.00",
     "Previous model, replaced by the Lumen 800.", status="archived", grams=120, stock=0)
prod("lumen-800", "Lumen 800 Front Light", "Lights", "light, usb-c, battery, stvzo", "59.00",
     "800 lumen front light, StVZO-approved low beam, USB-C charging, 2-13 h runtime.", grams=140, stock=48)
prod("lumen-1600", "Lumen 1600 Trail Light", "Lights", "light, usb-c, battery, off-road", "119.00",
     "1600 lumen off-road light with remote switch. Not road legal in Germany.", grams=210, stock=0)
prod("tailguard-radar", "TailGuard Radar Rear Light", "Lights", "light, radar, battery", "149.00",
     "Rear light with radar that warns of vehicles approaching from behind, 8 h runtime.", grams=70, stock=17)
prod("beacon-rear", "Beacon Rear Light", "Lights", "light, usb-c, battery", "24.90",
     "Compact USB-C rear light with brake detection.", grams=35, stock=90)
prod("summit-headlamp", "Summit 500 Headlamp", "Lights", "headlamp, camping, battery", "44.90",
     "Rechargeable 500 lumen headlamp with red light, IPX6.", grams=85, stock=33)
prod("glow-lantern", "Glow Camping Lantern", "Camping", "lantern, camping, battery, usb-c", "34.90",
     "Dimmable lantern that doubles as a 5200 mAh power bank.", grams=260, stock=21)
prod("trailcell-10000", "TrailCell 10000 Power Bank", "Electronics", "power-bank, lithium, battery", "29.90",
     "10,000 mAh USB-C power bank, 20 W, fits a frame bag.", grams=190, stock=60)
prod("trailcell-20000", "TrailCell 20000 Power Bank", "Electronics", "power-bank, lithium, battery", "49.90",
     "20,000 mAh USB-C power bank, 45 W, charges a laptop.", grams=350, stock=0)
prod("thermo-heated-gloves", "Thermo Heated Gloves", "Apparel", "gloves, heated, battery, winter", "129.00",
     "Heated winter gloves with two rechargeable 7.4 V batteries, three heat levels.",
     "Size", [("S", 3), ("M", 8), ("L", 6), ("XL", 0)], grams=300)
prod("thermo-heated-insoles", "Thermo Heated Insoles", "Apparel", "insoles, heated, battery, winter", "89.00",
     "Rechargeable heated insoles, cut to size.", "Size", [("36-40", 7), ("41-46", 9)], grams=250)
prod("ember-tent-heater", "Ember Catalytic Tent Heater", "Camping", "heater, gas, camping", "99.00",
     "Catalytic gas heater for ventilated tents and awnings, 1.3 kW, with tip-over and oxygen-depletion shut-off.",
     grams=1600, stock=7)
prod("flint-stove", "Flint Gas Stove", "Camping", "stove, gas, camping", "54.90",
     "Compact 2.6 kW stove for screw-thread gas cartridges.", grams=95, stock=40)
prod("flint-gas-230", "Flint Gas Cartridge 230 g", "Camping", "gas, cartridge, dangerous-goods, final-sale", "6.90",
     "Butane/propane cartridge. Ships by road within Germany only.", grams=380, stock=200)
prod("alpenglow-2p", "Alpenglow 2P Tent", "Camping", "tent, camping", "329.00",
     "Freestanding two-person tent, 1.9 kg, two doors.", grams=1900, stock=11)
prod("alpenglow-3p", "Alpenglow 3P Tent", "Camping", "tent, camping", "399.00",
     "Freestanding three-person tent, 2.4 kg.", grams=2400, stock=0)
prod("nordwand-sleeping-bag", "Nordwand -5 Down Sleeping Bag", "Camping", "sleeping-bag, down, camping", "279.00",
     "Down sleeping bag, comfort -5 C, 850 g.", "Length", [("Regular", 9), ("Long", 4)], grams=850)
prod("cirrus-sleeping-bag", "Cirrus +5 Synthetic Sleeping Bag", "Camping", "sleeping-bag, camping", "119.00",
     "Synthetic summer sleeping bag, comfort +5 C.", grams=1100, stock=14)
prod("loft-mat", "Loft Insulated Sleeping Mat", "Camping", "mat, camping", "109.00",
     "Inflatable mat, R-value 4.2, with pump sack.", grams=560, stock=19)
prod("vertex-mips-helmet", "Vertex MIPS Helmet", "Helmets", "helmet, mips, hygiene", "139.00",
     "Trail helmet with MIPS liner and magnetic buckle.", "Size", [("S", 0), ("M", 12), ("L", 7)], grams=360)
prod("urban-helmet", "Urban Commuter Helmet with Rear Light", "Helmets", "helmet, light, hygiene, battery", "89.00",
     "City helmet with built-in USB-C rear light.", "Size", [("M", 10), ("L", 5)], grams=420)
prod("kids-helmet", "Sprout Kids Helmet", "Helmets", "helmet, kids, hygiene", "44.90",
     "Kids helmet, 48-54 cm.", grams=280, stock=16)
prod("cadence-bib-shorts", "Cadence Bib Shorts", "Apparel", "apparel, shorts, hygiene", "99.00",
     "Bib shorts with Italian chamois.", "Size", [("S", 5), ("M", 9), ("L", 6), ("XL", 2)], grams=200)
prod("cadence-jersey", "Cadence Jersey", "Apparel", "apparel, jersey", "69.00",
     "Short-sleeve jersey, three rear pockets.", "Size", [("S", 8), ("M", 10), ("L", 0), ("XL", 4)], grams=150)
prod("stormshell-jacket", "Stormshell Rain Jacket", "Apparel", "apparel, jacket, rain", "159.00",
     "Waterproof 20,000 mm, packs into its pocket.", "Size", [("S", 4), ("M", 6), ("L", 5), ("XL", 3)], grams=240)
prod("merino-socks", "Merino Trail Socks", "Apparel", "apparel, socks, hygiene", "17.90",
     "Merino wool cycling and hiking socks.", "Size", [("36-39", 30), ("40-43", 40), ("44-47", 25)], grams=60)
prod("winter-jacket-preview", "Frostline Winter Jacket (2027 preview)", "Apparel", "apparel, jacket", "219.00",
     "Coming in 2027.", status="draft", grams=600, stock=0)
prod("gripshift-tyre-29", "Gripshift 29 x 2.4 MTB Tyre", "Components", "tyre, mtb", "54.90",
     "Tubeless-ready trail tyre.", grams=980, stock=38)
prod("allroad-tyre-700", "Allroad 700 x 40 Gravel Tyre", "Components", "tyre, gravel", "44.90",
     "Fast-rolling gravel tyre, tubeless ready.", grams=480, stock=44)
prod("inner-tube", "Inner Tube", "Components", "tube", "7.90",
     "Butyl inner tube, Presta valve.", "Size", [("26\"", 30), ("27.5\"", 40), ("29\"", 50), ("700c", 60)], grams=180)
prod("chain-12s", "12-Speed Chain", "Components", "chain, drivetrain", "34.90",
     "126 links with quick link.", grams=250, stock=26)
prod("brake-pads", "Organic Disc Brake Pads", "Components", "brakes", "14.90",
     "Organic pads for two-piston calipers.", grams=40, stock=70)
prod("flat-pedals", "Grip Flat Pedals", "Components", "pedals", "59.00",
     "Aluminium flat pedals with replaceable pins.", grams=380, stock=18)
prod("comfort-saddle", "Tour Comfort Saddle", "Components", "saddle", "49.00",
     "Gel saddle for touring and city bikes.", grams=420, stock=15)
prod("custom-wheelset", "Custom Built Wheelset", "Components", "wheels, custom, final-sale", "549.00",
     "Hand-built wheelset to your specification; built to order in our Freiburg workshop in 5-8 business days.",
     grams=1800, stock=100)
prod("bottle-cage", "Alloy Bottle Cage", "Accessories", "bottle, cage", "9.90", "Lightweight cage.", grams=35, stock=120)
prod("water-bottle", "Insulated Bottle 600 ml", "Accessories", "bottle", "14.90", "Keeps water cold for 2 hours.",
     grams=110, stock=80)
prod("floor-pump", "Track Floor Pump", "Tools", "pump", "49.00", "Floor pump with gauge, up to 11 bar.", grams=1600, stock=20)
prod("mini-pump", "Mini Pump", "Tools", "pump", "24.90", "Frame-mounted mini pump.", grams=110, stock=45)
prod("co2-inflator", "CO2 Inflator with 2 Cartridges", "Tools", "co2, pressure, dangerous-goods", "29.90",
     "Inflator head with two 16 g CO2 cartridges. Not shipped by air.", grams=120, stock=30)
prod("multitool-18", "Multitool 18", "Tools", "tool", "32.90", "18 functions including chain tool.", grams=170, stock=36)
prod("torque-wrench", "Torque Wrench 2-20 Nm", "Tools", "tool, torque", "79.00", "Click-type torque wrench with bits.",
     grams=700, stock=9)
prod("workstand", "Home Workstand", "Tools", "tool, workstand", "139.00", "Folding repair stand.", grams=5200, stock=6)
prod("chain-lube-wet", "Wet Chain Lube 100 ml", "Maintenance", "lube, chain", "9.90", "For wet and muddy rides.",
     grams=120, stock=90)
prod("degreaser-spray", "Bio Degreaser Spray 500 ml", "Maintenance", "degreaser, aerosol, dangerous-goods", "12.90",
     "Biodegradable degreaser in an aerosol can. Ships by road only.", grams=560, stock=50)
prod("u-lock", "Fortress U-Lock", "Locks", "lock", "69.00", "16 mm hardened steel, security level 12.", grams=1500, stock=22)
prod("folding-lock", "Fold 900 Folding Lock", "Locks", "lock", "84.00", "Folding lock, 90 cm, with frame holder.",
     grams=1100, stock=0)
prod("frame-bag", "Frame Bag 4 L", "Bags", "bag, bikepacking", "54.90", "Waterproof frame bag.", grams=220, stock=24)
prod("seat-pack", "Seat Pack 11 L", "Bags", "bag, bikepacking", "74.90", "Roll-closure seat pack.", grams=380, stock=13)
prod("pannier-pair", "Waterproof Panniers (pair)", "Bags", "bag, pannier", "119.00", "2 x 20 L, quick-release.",
     grams=1800, stock=10)
prod("child-seat", "Rear Child Seat", "Accessories", "child-seat, kids", "129.00", "For children 9-22 kg.",
     grams=4200, stock=8)
prod("car-rack", "Towbar Bike Rack (2 bikes)", "Accessories", "rack, car", "449.00", "Tilting towbar rack for two e-bikes.",
     grams=16000, stock=3)
prod("gps-computer", "Pathfinder GPS Bike Computer", "Electronics", "gps, computer, battery", "229.00",
     "Colour GPS computer with maps, 20 h battery.", grams=90, stock=14)
prod("gift-voucher", "Ridgeline Gift Voucher", "Gift vouchers", "gift-card", "50.00",
     "Digital voucher sent by e-mail, valid for three years.", "Value",
     [("25 EUR", 999), ("50 EUR", 999), ("100 EUR", 999)], grams=0)
prod("service-voucher", "Workshop Service Voucher", "Gift vouchers", "gift-card, workshop", "89.00",
     "A full service in our Freiburg workshop.", grams=0, stock=999)

VARIANT_PRICE = {("gift-voucher", "25 EUR"): "25.00", ("gift-voucher", "100 EUR"): "100.00"}

TYPE_DE = {"Bikes": "Fahrräder", "E-bikes": "E-Bikes", "E-bike parts": "E-Bike-Teile", "Lights": "Beleuchtung",
           "Camping": "Camping", "Electronics": "Elektronik", "Apparel": "Bekleidung", "Helmets": "Helme",
           "Components": "Komponenten", "Accessories": "Zubehör", "Tools": "Werkzeug", "Maintenance": "Pflege",
           "Locks": "Schlösser", "Bags": "Taschen", "Gift vouchers": "Gutscheine"}
TITLE_DE = {
    "talus-29-hardtail": "Talus 29 Hardtail-Mountainbike", "kestrel-gravel": "Kestrel Gravelbike",
    "metro-8-city": "Metro 8 Citybike", "vela-e-trekking": "Vela E-Trekkingrad 625", "sprout-20-kids": "Sprout 20 Kinderfahrrad",
    "powerpack-500": "PowerPack 500 Wh E-Bike-Akku", "powerpack-625": "PowerPack 625 Wh E-Bike-Akku",
    "fastcharge-4a": "FastCharge 4A E-Bike-Ladegerät", "lumen-400": "Lumen 400 Frontlicht (Vorgängermodell)",
    "lumen-800": "Lumen 800 Frontlicht", "lumen-1600": "Lumen 1600 Trail-Lampe", "tailguard-radar": "TailGuard Radar-Rücklicht",
    "beacon-rear": "Beacon Rücklicht", "summit-headlamp": "Summit 500 Stirnlampe", "glow-lantern": "Glow Campinglaterne",
    "trailcell-10000": "TrailCell 10000 Powerbank", "trailcell-20000": "TrailCell 20000 Powerbank",
    "thermo-heated-gloves": "Thermo beheizbare Handschuhe", "thermo-heated-insoles": "Thermo beheizbare Einlegesohlen",
    "ember-tent-heater": "Ember katalytischer Zeltheizer", "flint-stove": "Flint Gaskocher",
    "flint-gas-230": "Flint Gaskartusche 230 g", "alpenglow-2p": "Alpenglow 2P Zelt", "alpenglow-3p": "Alpenglow 3P Zelt",
    "nordwand-sleeping-bag": "Nordwand -5 Daunenschlafsack", "cirrus-sleeping-bag": "Cirrus +5 Kunstfaserschlafsack",
    "loft-mat": "Loft isolierte Isomatte", "vertex-mips-helmet": "Vertex MIPS Helm",
    "urban-helmet": "Urban Pendlerhelm mit Rücklicht", "kids-helmet": "Sprout Kinderhelm", "cadence-bib-shorts": "Cadence Trägerhose",
    "cadence-jersey": "Cadence Trikot", "stormshell-jacket": "Stormshell Regenjacke", "merino-socks": "Merino Trail Socken",
    "winter-jacket-preview": "Frostline Winterjacke (Vorschau 2027)", "gripshift-tyre-29": "Gripshift 29 x 2,4 MTB-Reifen",
    "allroad-tyre-700": "Allroad 700 x 40 Gravelreifen", "inner-tube": "Fahrradschlauch", "chain-12s": "12-fach Kette",
    "brake-pads": "Organische Scheibenbremsbeläge", "flat-pedals": "Grip Plattformpedale", "comfort-saddle": "Tour Komfortsattel",
    "custom-wheelset": "Handgebauter Laufradsatz", "bottle-cage": "Alu-Flaschenhalter", "water-bottle": "Isolierte Trinkflasche 600 ml",
    "floor-pump": "Track Standpumpe", "mini-pump": "Minipumpe", "co2-inflator": "CO2-Pumpe mit 2 Kartuschen",
    "multitool-18": "Multitool 18", "torque-wrench": "Drehmomentschlüssel 2-20 Nm", "workstand": "Montageständer",
    "chain-lube-wet": "Kettenöl nass 100 ml", "degreaser-spray": "Bio-Entfetterspray 500 ml", "u-lock": "Fortress Bügelschloss",
    "folding-lock": "Fold 900 Faltschloss", "frame-bag": "Rahmentasche 4 L", "seat-pack": "Satteltasche 11 L",
    "pannier-pair": "Wasserdichte Packtaschen (Paar)", "child-seat": "Kindersitz hinten",
    "car-rack": "Anhängerkupplungs-Fahrradträger (2 Räder)", "gps-computer": "Pathfinder GPS-Fahrradcomputer",
    "gift-voucher": "Ridgeline Geschenkgutschein", "service-voucher": "Werkstatt-Servicegutschein",
}
TITLE_JA = {
    "talus-29-hardtail": "Talus 29 ハードテイル マウンテンバイク", "kestrel-gravel": "Kestrel グラベルバイク",
    "metro-8-city": "Metro 8 シティバイク", "vela-e-trekking": "Vela 電動アシスト トレッキングバイク 625",
    "sprout-20-kids": "Sprout 20 子供用自転車", "powerpack-500": "PowerPack 500Wh 電動自転車バッテリー",
    "powerpack-625": "PowerPack 625Wh 電動自転車バッテリー", "fastcharge-4a": "FastCharge 4A 電動自転車用充電器",
    "lumen-400": "Lumen 400 フロントライト（旧モデル）", "lumen-800": "Lumen 800 フロントライト",
    "lumen-1600": "Lumen 1600 トレイルライト", "tailguard-radar": "TailGuard レーダー テールライト",
    "beacon-rear": "Beacon テールライト", "summit-headlamp": "Summit 500 ヘッドランプ", "glow-lantern": "Glow キャンプランタン",
    "trailcell-10000": "TrailCell 10000 モバイルバッテリー", "trailcell-20000": "TrailCell 20000 モバイルバッテリー",
    "thermo-heated-gloves": "Thermo 電熱グローブ", "thermo-heated-insoles": "Thermo 電熱インソール",
    "ember-tent-heater": "Ember 触媒式テントヒーター", "flint-stove": "Flint ガスストーブ",
    "flint-gas-230": "Flint ガスカートリッジ 230g", "alpenglow-2p": "Alpenglow 2人用テント", "alpenglow-3p": "Alpenglow 3人用テント",
    "nordwand-sleeping-bag": "Nordwand -5 ダウン寝袋", "cirrus-sleeping-bag": "Cirrus +5 化繊寝袋",
    "loft-mat": "Loft 断熱スリーピングマット", "vertex-mips-helmet": "Vertex MIPS ヘルメット",
    "urban-helmet": "Urban テールライト付き通勤ヘルメット", "kids-helmet": "Sprout 子供用ヘルメット",
    "cadence-bib-shorts": "Cadence ビブショーツ", "cadence-jersey": "Cadence サイクルジャージ",
    "stormshell-jacket": "Stormshell レインジャケット", "merino-socks": "メリノ トレイルソックス",
    "winter-jacket-preview": "Frostline ウィンタージャケット（2027年プレビュー）", "gripshift-tyre-29": "Gripshift 29 x 2.4 MTBタイヤ",
    "allroad-tyre-700": "Allroad 700 x 40 グラベルタイヤ", "inner-tube": "インナーチューブ", "chain-12s": "12速チェーン",
    "brake-pads": "オーガニック ディスクブレーキパッド", "flat-pedals": "Grip フラットペダル", "comfort-saddle": "Tour コンフォートサドル",
    "custom-wheelset": "手組みホイールセット", "bottle-cage": "アルミ ボトルケージ", "water-bottle": "保冷ボトル 600ml",
    "floor-pump": "Track フロアポンプ", "mini-pump": "ミニポンプ", "co2-inflator": "CO2インフレーター（カートリッジ2本付き）",
    "multitool-18": "マルチツール 18", "torque-wrench": "トルクレンチ 2-20Nm", "workstand": "メンテナンススタンド",
    "chain-lube-wet": "ウェット チェーンオイル 100ml", "degreaser-spray": "バイオ ディグリーザースプレー 500ml",
    "u-lock": "Fortress U字ロック", "folding-lock": "Fold 900 折りたたみロック", "frame-bag": "フレームバッグ 4L",
    "seat-pack": "サドルバッグ 11L", "pannier-pair": "防水パニアバッグ（ペア）", "child-seat": "リア チャイルドシート",
    "car-rack": "ヒッチ式サイクルキャリア（2台用）", "gps-computer": "Pathfinder GPS サイクルコンピューター",
    "gift-voucher": "Ridgeline ギフト券", "service-voucher": "ワークショップ点検ギフト券",
}

PRODUCT_COLUMNS = ["Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
                   "Option1 Name", "Option1 Value", "Variant SKU", "Variant Grams", "Variant Inventory Tracker",
                   "Variant Inventory Qty", "Variant Inventory Policy", "Variant Fulfillment Service",
                   "Variant Price", "Variant Compare At Price", "Variant Requires Shipping", "Variant Taxable",
                   "Image Src", "Image Position", "Status"]


def sku_of(p, value):
    base = "RC-" + "".join(w[:3].upper() for w in p["handle"].split("-")[:3])
    if value == "Default Title":
        return base
    return base + "-" + "".join(ch for ch in value.upper() if ch.isalnum())


def variant_price(p, value):
    return VARIANT_PRICE.get((p["handle"], value), p["price"])


def write_products(path, lang):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(PRODUCT_COLUMNS)
        for p in P:
            title = p["title"] if lang == "en" else (TITLE_DE if lang == "de" else TITLE_JA)[p["handle"]]
            ptype = TYPE_DE.get(p["type"], p["type"]) if lang == "de" else p["type"]
            body = "<p>" + p["desc"] + "</p>" if lang == "en" else "<p>" + title + "</p>"
            image = f"https://cdn.ridgeline-cycles.example/products/{p['handle']}.jpg"
            for i, (value, stock) in enumerate(p["variants"]):
                first = i == 0
                w.writerow([
                    p["handle"], title if first else "", body if first else "", "Ridgeline" if first else "",
                    "" , ptype if first else "", p["tags"] if first else "",
                    ("true" if p["status"] == "active" else "false") if first else "",
                    (p["option"] or "Title") if first else "", value, sku_of(p, value), p["grams"], "shopify",
                    stock, "deny", "manual", variant_price(p, value), p["compare"] or "",
                    "true" if p["grams"] > 0 else "false", "true", image if first else "", 1 if first else "",
                    p["status"] if first else "",
                ])
            # an extra image row, as Shopify writes one per additional image
            w.writerow([p["handle"]] + [""] * 19 + [image.replace(".jpg", "-2.jpg"), 2, ""])


# -------------------------------------------------------------------------- customers
# country: (locale, time zone, currency, zone, carrier, cities [(city, zip, province)])
COUNTRIES = {
    "DE": ("de-DE", "Europe/Berlin", "EUR", "DE", "DHL", [("Köln", "50667", ""), ("München", "80331", ""), ("Hamburg", "20095", ""), ("Freiburg im Breisgau", "79098", ""), ("Leipzig", "04109", "")]),
    "AT": ("de-AT", "Europe/Vienna", "EUR", "Z1", "DPD", [("Wien", "1070", ""), ("Graz", "8010", ""), ("Innsbruck", "6020", "")]),
    "CH": ("de-CH", "Europe/Zurich", "CHF", "Z3", "UPS", [("Zürich", "8004", "ZH"), ("Bern", "3011", "BE"), ("Basel", "4051", "BS")]),
    "FR": ("fr-FR", "Europe/Paris", "EUR", "Z1", "Colissimo", [("Lyon", "69003", ""), ("Paris", "75011", ""), ("Grenoble", "38000", ""), ("Annecy", "74000", "")]),
    "BE": ("fr-BE", "Europe/Brussels", "EUR", "Z1", "DPD", [("Ixelles", "1050", ""), ("Liège", "4000", ""), ("Namur", "5000", "")]),
    "ES": ("es-ES", "Europe/Madrid", "EUR", "Z2", "GLS", [("Valencia", "46002", "V"), ("Madrid", "28004", "M"), ("Girona", "17001", "GI")]),
    "MX": ("es-MX", "America/Mexico_City", "EUR", "Z4", "DHL Express", [("Ciudad de México", "06700", "CMX"), ("Guadalajara", "44100", "JAL")]),
    "PT": ("pt-PT", "Europe/Lisbon", "EUR", "Z2", "GLS", [("Porto", "4000-322", ""), ("Lisboa", "1100-148", ""), ("Braga", "4700-320", "")]),
    "BR": ("pt-BR", "America/Sao_Paulo", "EUR", "Z4", "DHL Express", [("São Paulo", "01310-100", "SP"), ("Curitiba", "80010-000", "PR")]),
    "GB": ("en-GB", "Europe/London", "GBP", "Z3", "UPS", [("Bristol", "BS1 4DJ", ""), ("London", "SW1A 1AA", ""), ("Manchester", "M1 1AE", ""), ("Edinburgh", "EH1 1YZ", "")]),
    "IE": ("en-IE", "Europe/Dublin", "EUR", "Z2", "UPS", [("Dublin", "D02 X285", ""), ("Cork", "T12 RX8A", "")]),
    "US": ("en-US", "America/Denver", "USD", "Z4", "UPS", [("Boulder", "80302", "CO"), ("Portland", "97205", "OR"), ("Burlington", "05401", "VT")]),
    "JP": ("ja-JP", "Asia/Tokyo", "JPY", "Z4", "DHL Express", [("渋谷区", "150-0041", "東京都"), ("大阪市北区", "530-0001", "大阪府"), ("札幌市中央区", "060-0001", "北海道")]),
    "CN": ("zh-CN", "Asia/Shanghai", "EUR", "Z4", "DHL Express", [("上海市", "200031", "上海"), ("北京市", "100027", "北京"), ("成都市", "610041", "四川")]),
    "TW": ("zh-TW", "Asia/Taipei", "EUR", "Z4", "DHL Express", [("台北市大安區", "106", "台北市"), ("台中市西屯區", "407", "台中市"), ("高雄市", "80052", "高雄市")]),
    "NL": ("nl-NL", "Europe/Amsterdam", "EUR", "Z1", "DPD", [("Utrecht", "3511 LX", ""), ("Amsterdam", "1012 AB", "")]),
    "IT": ("it-IT", "Europe/Rome", "EUR", "Z2", "GLS", [("Milano", "20121", "MI"), ("Bolzano", "39100", "BZ")]),
    "KR": ("ko-KR", "Asia/Seoul", "EUR", "Z4", "DHL Express", [("서울특별시 마포구", "04038", "")]),
}
COUNTRY_WEIGHTS = {"DE": 150, "AT": 35, "CH": 25, "FR": 50, "BE": 15, "ES": 35, "MX": 8, "PT": 20, "BR": 8,
                   "GB": 40, "IE": 10, "US": 25, "JP": 25, "CN": 15, "TW": 12, "NL": 25, "IT": 20, "KR": 5}
NAMES = {
    "de": (["Jonas", "Lena", "Paul", "Mia", "Felix", "Laura", "Tobias", "Anna", "Stefan", "Katrin", "Moritz", "Julia"],
           ["Becker", "Hoffmann", "Schulz", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Zimmermann", "Braun", "Krause", "Lang"]),
    "fr": (["Camille", "Hugo", "Léa", "Louis", "Manon", "Théo", "Sarah", "Nicolas", "Julie", "Mathis"],
           ["Dubois", "Lambert", "Fontaine", "Rousseau", "Mercier", "Girard", "Bonnet", "Dupont", "Blanc", "Guerin"]),
    "es": (["Pablo", "Lucía", "Javier", "Elena", "Diego", "Carmen", "Álvaro", "Nuria", "Iker", "Paula"],
           ["Gómez", "Fernández", "Torres", "Ramírez", "Serrano", "Molina", "Ortega", "Delgado", "Castro", "Vidal"]),
    "pt": (["João", "Beatriz", "Tiago", "Mariana", "Rui", "Carolina", "Miguel", "Sofia", "Lucas", "Ana"],
           ["Ferreira", "Pereira", "Costa", "Rodrigues", "Martins", "Almeida", "Ribeiro", "Lopes", "Gomes", "Sousa"]),
    "en": (["James", "Sophie", "Harry", "Chloe", "Thomas", "Grace", "Ryan", "Megan", "Daniel", "Olivia", "Liam", "Ella"],
           ["Clarke", "Turner", "Hughes", "Parker", "Evans", "Collins", "Murphy", "Stewart", "Reid", "Foster", "Hayes", "Wright"]),
    "ja": (["翔太", "さくら", "大輔", "陽菜", "拓海", "優子", "直樹", "彩"], ["高橋", "渡辺", "伊藤", "山本", "小林", "加藤", "吉田", "山田"]),
    "zh": (["伟", "芳", "磊", "婷", "浩", "敏", "杰", "丽"], ["王", "李", "张", "赵", "孙", "周", "吴", "郑"]),
    "nl": (["Sanne", "Bram", "Lotte", "Thijs", "Femke"], ["Jansen", "Bakker", "Visser", "Smit", "Mulder"]),
    "it": (["Marco", "Chiara", "Luca", "Francesca", "Matteo"], ["Bianchi", "Ricci", "Marino", "Greco", "Bruno"]),
    "ko": (["민준", "서연", "지호"], ["김", "이", "박"]),
}
ROMAN = {"翔太": "shota", "さくら": "sakura", "大輔": "daisuke", "陽菜": "hina", "拓海": "takumi", "優子": "yuko",
         "直樹": "naoki", "彩": "aya", "高橋": "takahashi", "渡辺": "watanabe", "伊藤": "ito", "山本": "yamamoto",
         "小林": "kobayashi", "加藤": "kato", "吉田": "yoshida", "山田": "yamada", "伟": "wei", "芳": "fang", "磊": "lei",
         "婷": "ting", "浩": "hao", "敏": "min", "杰": "jie", "丽": "li", "王": "wang", "李": "li", "张": "zhang",
         "赵": "zhao", "孙": "sun", "周": "zhou", "吴": "wu", "郑": "zheng", "민준": "minjun", "서연": "seoyeon",
         "지호": "jiho", "김": "kim", "이": "lee", "박": "park"}
STREETS = {
    "DE": ["Venloer Str. {n}", "Sendlinger Str. {n}", "Lange Reihe {n}", "Kaiser-Joseph-Str. {n}", "Karl-Liebknecht-Str. {n}"],
    "AT": ["Neubaugasse {n}", "Herrengasse {n}", "Maria-Theresien-Str. {n}"],
    "CH": ["Langstrasse {n}", "Marktgasse {n}", "Steinenvorstadt {n}"],
    "FR": ["{n} rue Paul Bert", "{n} rue Oberkampf", "{n} avenue Alsace-Lorraine", "{n} rue Royale"],
    "BE": ["Rue du Bailli {n}", "Rue Saint-Gilles {n}", "Rue de Fer {n}"],
    "ES": ["Calle de Colón {n}", "Calle de Atocha {n}", "Carrer Nou {n}"],
    "MX": ["Av. Insurgentes Sur {n}", "Av. Chapultepec {n}"],
    "PT": ["Rua de Santa Catarina {n}", "Rua Morais Soares {n}", "Avenida Central {n}"],
    "BR": ["Avenida Paulista {n}", "Rua XV de Novembro {n}"],
    "GB": ["{n} Park Street", "{n} Whitehall", "{n} Oldham Street", "{n} Royal Mile"],
    "IE": ["{n} Grafton Street", "{n} Oliver Plunkett Street"],
    "US": ["{n} Pearl Street", "{n} SW Morrison Street", "{n} Church Street"],
    "JP": ["神南1-{n}-3", "梅田2-{n}-1", "北1条西{n}丁目"],
    "CN": ["淮海中路{n}号", "朝阳门外大街{n}号", "人民南路{n}号"],
    "TW": ["復興南路一段{n}號", "台灣大道三段{n}號", "中正四路{n}號"],
    "NL": ["Oudegracht {n}", "Damstraat {n}"],
    "IT": ["Via Torino {n}", "Via dei Portici {n}"],
    "KR": ["월드컵로 {n}"],
}
PHONE_PREFIX = {"DE": "+49 1", "AT": "+43 66", "CH": "+41 7", "FR": "+33 6", "BE": "+32 47", "ES": "+34 6",
                "MX": "+52 55", "PT": "+351 91", "BR": "+55 11 9", "GB": "+44 7", "IE": "+353 8", "US": "+1 303",
                "JP": "+81 90", "CN": "+86 13", "TW": "+886 9", "NL": "+31 6", "IT": "+39 3", "KR": "+82 10"}
LANG_OF = {"DE": "de", "AT": "de", "CH": "de", "FR": "fr", "BE": "fr", "ES": "es", "MX": "es", "PT": "pt", "BR": "pt",
           "GB": "en", "IE": "en", "US": "en", "JP": "ja", "CN": "zh", "TW": "zh", "NL": "nl", "IT": "it", "KR": "ko"}
DOMAINS = ["example.com", "example.org", "example.net"]

# Named customers whose orders the eval cases ask about. Each order: (key, placed date,
# state, [(handle, variant, qty)]). State is one of: unfulfilled, label, transit,
# out_for_delivery, delivered:<date>, delayed, exception, returned, cancelled, refunded.
PERSONAS = [
    dict(key="oliver", name="Oliver Bennett", email="oliver.bennett@example.co.uk", country="GB", city=0, street="14 Park Street",
         orders=[("oliver-transit", "2026-11-18", "transit", [("lumen-800", None, 1), ("tailguard-radar", None, 1)]),
                 ("oliver-old-delivered", "2026-09-22", "delivered:2026-09-29", [("vertex-mips-helmet", "M", 1)]),
                 ("oliver-2025", "2025-04-11", "delivered:2025-04-17", [("alpenglow-2p", None, 1)]),
                 ("oliver-unfulfilled", "2026-11-23", "unfulfilled", [("seat-pack", None, 1)])]),
    dict(key="emma", name="Emma Walsh", email="emma.walsh@example.ie", country="IE", city=0, street="21 Grafton Street",
         orders=[("emma-delayed", "2026-11-05", "delayed", [("stormshell-jacket", "M", 1)]),
                 ("emma-delivered", "2026-11-10", "delivered:2026-11-16", [("nordwand-sleeping-bag", "Regular", 1)]),
                 ("emma-unfulfilled", "2026-11-23", "unfulfilled", [("merino-socks", "36-39", 2), ("water-bottle", None, 1)])]),
    dict(key="jacob", name="Jacob Miller", email="jacob.miller@example.com", country="US", city=0, street="1220 Pearl Street",
         orders=[("jacob-unfulfilled", "2026-11-23", "unfulfilled", [("gps-computer", None, 1)]),
                 ("jacob-exception", "2026-11-06", "exception", [("summit-headlamp", None, 2), ("merino-socks", "44-47", 2)])]),
    dict(key="jonas", name="Jonas Hartmann", email="jonas.hartmann@example.de", country="DE", city=0, street="Venloer Str. 212",
         orders=[("jonas-transit", "2026-11-21", "transit", [("trailcell-10000", None, 1), ("frame-bag", None, 1)]),
                 ("jonas-delivered", "2026-11-08", "delivered:2026-11-10", [("thermo-heated-gloves", "L", 1)]),
                 ("jonas-unfulfilled", "2026-11-23", "unfulfilled", [("u-lock", None, 1), ("chain-lube-wet", None, 2)]),
                 ("jonas-2025", "2025-06-02", "delivered:2025-06-04", [("comfort-saddle", None, 1)])]),
    dict(key="sabine", name="Sabine Krüger", email="sabine.krueger@example.at", country="AT", city=0, street="Neubaugasse 41",
         orders=[("sabine-ofd", "2026-11-19", "out_for_delivery", [("cadence-jersey", "M", 1), ("cadence-bib-shorts", "M", 1)]),
                 ("sabine-returned", "2026-10-20", "returned", [("ember-tent-heater", None, 1)]),
                 ("sabine-unfulfilled", "2026-11-23", "unfulfilled", [("loft-mat", None, 1)])]),
    dict(key="matthias", name="Matthias Huber", email="matthias.huber@example.ch", country="CH", city=0, street="Langstrasse 88",
         orders=[("matthias-exception", "2026-11-12", "exception", [("kestrel-gravel", "56", 1)]),
                 ("matthias-delivered", "2026-10-01", "delivered:2026-10-06", [("floor-pump", None, 1)])]),
    dict(key="chloe", name="Chloé Moreau", email="chloe.moreau@example.fr", country="FR", city=0, street="27 rue Paul Bert",
         orders=[("chloe-transit", "2026-11-20", "transit", [("loft-mat", None, 1)]),
                 ("chloe-delivered", "2026-10-27", "delivered:2026-11-01", [("alpenglow-2p", None, 1)]),
                 ("chloe-cancelled", "2026-11-02", "cancelled", [("lumen-1600", None, 1)]),
                 ("chloe-unfulfilled", "2026-11-23", "unfulfilled", [("summit-headlamp", None, 1), ("glow-lantern", None, 1)])]),
    dict(key="antoine", name="Antoine Lefèvre", email="antoine.lefevre@example.be", country="BE", city=0, street="Rue du Bailli 63",
         orders=[("antoine-label", "2026-11-23", "label", [("pannier-pair", None, 1)]),
                 ("antoine-unfulfilled", "2026-11-23", "unfulfilled", [("child-seat", None, 1)]),
                 ("antoine-delivered", "2026-10-10", "delivered:2026-10-14", [("u-lock", None, 1)])]),
    dict(key="sergio", name="Sergio Navarro", email="sergio.navarro@example.es", country="ES", city=0, street="Calle de Colón 18",
         orders=[("sergio-transit", "2026-11-19", "transit", [("gripshift-tyre-29", None, 2)]),
                 ("sergio-delivered", "2026-11-14", "delivered:2026-11-19", [("summit-headlamp", None, 1)]),
                 ("sergio-refunded", "2026-10-09", "refunded", [("thermo-heated-insoles", "41-46", 1)]),
                 ("sergio-unfulfilled", "2026-11-23", "unfulfilled", [("chain-12s", None, 1), ("brake-pads", None, 2)])]),
    dict(key="valentina", name="Valentina Rojas", email="valentina.rojas@example.com.mx", country="MX", city=0, street="Av. Insurgentes Sur 1602",
         orders=[("valentina-delayed", "2026-10-28", "delayed", [("seat-pack", None, 1), ("frame-bag", None, 1)]),
                 ("valentina-delivered", "2026-09-01", "delivered:2026-09-15", [("cadence-jersey", "S", 1)])]),
    dict(key="ines", name="Inês Carvalho", email="ines.carvalho@example.pt", country="PT", city=0, street="Rua de Santa Catarina 310",
         orders=[("ines-transit", "2026-11-18", "transit", [("cirrus-sleeping-bag", None, 1)]),
                 ("ines-delivered", "2026-11-03", "delivered:2026-11-09", [("beacon-rear", None, 2)]),
                 ("ines-unfulfilled", "2026-11-23", "unfulfilled", [("merino-socks", "36-39", 3)])]),
    dict(key="rafael", name="Rafael Souza", email="rafael.souza@example.com.br", country="BR", city=0, street="Avenida Paulista 1578",
         orders=[("rafael-exception", "2026-11-03", "exception", [("gps-computer", None, 1)]),
                 ("rafael-delivered", "2026-10-28", "delivered:2026-11-12", [("summit-headlamp", None, 1)])]),
    dict(key="kenji", name="佐藤 健二", email="kenji.sato@example.jp", country="JP", city=0, street="神南1-19-3",
         orders=[("kenji-transit", "2026-11-17", "transit", [("lumen-800", None, 1), ("beacon-rear", None, 1)]),
                 ("kenji-delivered", "2025-07-08", "delivered:2025-07-15", [("multitool-18", None, 1)]),
                 ("kenji-delivered-recent", "2026-11-12", "delivered:2026-11-19", [("thermo-heated-gloves", "M", 1)])]),
    dict(key="misaki", name="中村 美咲", email="misaki.nakamura@example.jp", country="JP", city=1, street="梅田2-4-9",
         orders=[("misaki-unfulfilled", "2026-11-23", "unfulfilled", [("stormshell-jacket", "S", 1)]),
                 ("misaki-delivered", "2026-11-02", "delivered:2026-11-11", [("water-bottle", None, 2)])]),
    dict(key="chenjing", name="陈静", email="chen.jing@example.cn", country="CN", city=0, street="淮海中路999号",
         orders=[("chenjing-transit", "2026-11-16", "transit", [("cadence-jersey", "S", 1)]),
                 ("chenjing-delivered", "2026-09-30", "delivered:2026-10-12", [("merino-socks", "36-39", 3)]),
                 ("chenjing-unfulfilled", "2026-11-23", "unfulfilled", [("frame-bag", None, 1)])]),
    dict(key="liuyang", name="刘洋", email="liu.yang@example.cn", country="CN", city=1, street="朝阳门外大街6号",
         orders=[("liuyang-delayed", "2026-10-26", "delayed", [("torque-wrench", None, 1)]),
                 ("liuyang-delivered", "2026-11-01", "delivered:2026-11-13", [("glow-lantern", None, 1)])]),
    dict(key="guanyu", name="黃冠宇", email="guanyu.huang@example.tw", country="TW", city=0, street="復興南路一段390號",
         orders=[("guanyu-transit", "2026-11-17", "transit", [("mini-pump", None, 1), ("bottle-cage", None, 2)]),
                 ("guanyu-unfulfilled", "2026-11-23", "unfulfilled", [("flat-pedals", None, 1)]),
                 ("guanyu-delivered", "2026-11-05", "delivered:2026-11-15", [("trailcell-10000", None, 1)])]),
    dict(key="daan", name="Daan de Vries", email="daan.devries@example.nl", country="NL", city=0, street="Oudegracht 143",
         orders=[("daan-delivered", "2026-11-12", "delivered:2026-11-14", [("urban-helmet", "L", 1)]),
                 ("daan-unfulfilled", "2026-11-23", "unfulfilled", [("pannier-pair", None, 1)])]),
    dict(key="giulia", name="Giulia Romano", email="giulia.romano@example.it", country="IT", city=0, street="Via Torino 51",
         orders=[("giulia-transit", "2026-11-19", "transit", [("stormshell-jacket", "S", 1)]),
                 ("giulia-unfulfilled", "2026-11-23", "unfulfilled", [("cadence-jersey", "M", 1)]),
                 ("giulia-delivered", "2026-11-09", "delivered:2026-11-13", [("allroad-tyre-700", None, 2)])]),
]


def slug(s):
    out = []
    for ch in s.lower():
        out.append({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "ê": "e", "ç": "c", "á": "a",
                    "í": "i", "ó": "o", "ú": "u", "ñ": "n", "ã": "a", "õ": "o", "â": "a", "ô": "o", "à": "a",
                    "ï": "i", "ë": "e"}.get(ch, ch))
    return "".join(ch for ch in "".join(out) if ch.isalnum() or ch == ".")


def phone(country):
    return PHONE_PREFIX[country] + " " + "".join(str(rng.randint(0, 9)) for _ in range(8))


customers = []
by_email = {}
for p in PERSONAS:
    c = COUNTRIES[p["country"]]
    city, zip_, prov = c[5][p["city"]]
    cust = dict(email=p["email"], name=p["name"], country=p["country"], locale=c[0], tz=c[1], city=city, zip=zip_,
                province=prov, street=p["street"], phone=phone(p["country"]), persona=p["key"])
    customers.append(cust)
    by_email[cust["email"]] = cust

N_CUSTOMERS = 520
weighted = [k for k, w in COUNTRY_WEIGHTS.items() for _ in range(w)]
while len(customers) < N_CUSTOMERS:
    country = rng.choice(weighted)
    lang = LANG_OF[country]
    first, last = rng.choice(NAMES[lang][0]), rng.choice(NAMES[lang][1])
    if lang in ("ja", "zh", "ko"):
        name = (last + " " + first) if lang == "ja" else (last + first if lang == "zh" else last + first)
        local = ROMAN[first] + "." + ROMAN[last]
    else:
        name = first + " " + last
        local = slug(first) + "." + slug(last)
    email = f"{local}{rng.randint(10, 9999)}@{rng.choice(DOMAINS)}"
    if email in by_email:
        continue
    c = COUNTRIES[country]
    city, zip_, prov = rng.choice(c[5])
    street = rng.choice(STREETS[country]).format(n=rng.randint(1, 180))
    cust = dict(email=email, name=name, country=country, locale=c[0], tz=c[1], city=city, zip=zip_, province=prov,
                street=street, phone=phone(country), persona=None)
    customers.append(cust)
    by_email[email] = cust


def write_customers(path):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["email", "phone", "name", "locale", "time_zone", "country", "tags", "telegram_id", "discord_id",
                    "accepts_email", "accepts_telegram", "accepts_discord"])
        for i, c in enumerate(customers):
            tags = []
            if c["persona"] or rng.random() < 0.08:
                tags.append("club-member")
            if rng.random() < 0.05:
                tags.append("wholesale")
            w.writerow([c["email"], c["phone"], c["name"], c["locale"], c["tz"], c["country"], ", ".join(tags),
                        "", "", rng.choice(["true", "false", ""]), "", ""])


# ----------------------------------------------------------------------------- orders
SHIPPING_FEE = {"DE": ("4.90", "79.00"), "Z1": ("8.90", "149.00"), "Z2": ("12.90", "149.00"), "Z3": ("19.90", "249.00"),
                "Z4": ("34.90", None)}
SHIPPING_METHOD = {"DE": "DHL Paket Standard", "Z1": "Standard Europe (Zone 1)", "Z2": "Standard Europe (Zone 2)",
                   "Z3": "Standard Europe non-EU (Zone 3)", "Z4": "International Express (Zone 4)"}
FX = {"EUR": 1.0, "GBP": 0.86, "USD": 1.08, "CHF": 0.95, "JPY": 162.0}
VAT = {"DE": 0.19, "AT": 0.20, "FR": 0.20, "BE": 0.21, "ES": 0.21, "PT": 0.23, "IE": 0.23, "NL": 0.21, "IT": 0.22}
by_handle = {p["handle"]: p for p in P}
sellable = [p for p in P if p["status"] == "active" and p["handle"] not in ("gift-voucher", "service-voucher")]
bikes = {"talus-29-hardtail", "kestrel-gravel", "metro-8-city", "vela-e-trekking", "sprout-20-kids", "car-rack",
         "custom-wheelset"}
small = [p for p in sellable if p["handle"] not in bikes]


def money(cents, currency):
    if currency == "JPY":
        return str(int(round(cents / 100)))
    return f"{cents / 100:.2f}"


def conv(eur_str, currency):
    cents = int(round(float(eur_str) * 100 * FX[currency]))
    if currency == "JPY":
        cents = int(round(cents / 10000.0)) * 10000  # whole hundreds of yen
    elif currency != "EUR":
        cents = int(round(cents / 10.0)) * 10 - 10 if cents > 100 else cents  # x.x0 prices
    return cents


def ts(d, hour, minute, tz_offset="+0100"):
    return f"{d.isoformat()} {hour:02d}:{minute:02d}:{rng.randint(0, 59):02d} {tz_offset}"


def offset(d):
    # Europe/Berlin: summer time between the last Sunday of March and of October.
    def last_sunday(year, month):
        day = dt.date(year, month, 31)
        return day - dt.timedelta(days=(day.weekday() + 1) % 7)
    return "+0200" if last_sunday(d.year, 3) <= d < last_sunday(d.year, 10) else "+0100"


def add_business_days(d, n):
    while n > 0:
        d += dt.timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


# Order slots: sorted dates, numbered in the old store then the new one.
N_ORDERS = 2450
days = (LAST - START).days + 1
dates = sorted(START + dt.timedelta(days=int(rng.random() ** 0.85 * days)) for _ in range(N_ORDERS))
# Persona orders take slots on their dates.
persona_orders = []
for p in PERSONAS:
    for key, placed, state, items in p["orders"]:
        persona_orders.append((dt.date.fromisoformat(placed), key, p["email"], state, items))
slot_dates = sorted(dates + [po[0] for po in persona_orders])
slot_dates = [d for d in slot_dates if d <= LAST]

orders = []
persona_iter = sorted(persona_orders)
used_persona = set()
for d in slot_dates:
    pick = None
    for po in persona_iter:
        if po[0] == d and po[1] not in used_persona:
            pick = po
            break
    if pick:
        used_persona.add(pick[1])
        orders.append(dict(date=d, key=pick[1], email=pick[2], state=pick[3], items=pick[4]))
    else:
        orders.append(dict(date=d, key=None, email=None, state=None, items=None))

old_n, new_n = 5001, 10001
for o in orders:
    if o["date"] < FORMAT_CHANGE:
        o["name"] = f"#RC{old_n}"
        old_n += 1
    else:
        o["name"] = f"RC-{new_n}-EU"
        new_n += 1

background = [c for c in customers if not c["persona"]]
# A few repeat buyers: weights
cust_weights = [rng.choice([1, 1, 1, 2, 3, 5]) for _ in background]

CARRIER_TRACK = {
    "DHL": lambda: "00340434" + "".join(str(rng.randint(0, 9)) for _ in range(12)),
    "DPD": lambda: "0150" + "".join(str(rng.randint(0, 9)) for _ in range(10)),
    "UPS": lambda: "1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTVWXY") for _ in range(6)) + "04" + "".join(str(rng.randint(0, 9)) for _ in range(8)),
    "Colissimo": lambda: "6A" + "".join(str(rng.randint(0, 9)) for _ in range(11)),
    "GLS": lambda: "".join(str(rng.randint(0, 9)) for _ in range(11)),
    "DHL Express": lambda: "".join(str(rng.randint(0, 9)) for _ in range(10)),
}
TRANSIT_DAYS = {"DE": (1, 3), "Z1": (2, 5), "Z2": (3, 7), "Z3": (4, 8), "Z4": (6, 15)}
HUB = {"DHL": "Freiburg, DE", "DPD": "Freiburg, DE", "UPS": "Basel, CH", "Colissimo": "Strasbourg, FR",
       "GLS": "Freiburg, DE", "DHL Express": "Leipzig, DE"}


def choose_items():
    n = rng.choice([1, 1, 1, 2, 2, 3])
    items = []
    for _ in range(n):
        p = rng.choice(small) if rng.random() > 0.04 else by_handle[rng.choice(sorted(bikes))]
        value = rng.choice(p["variants"])[0]
        items.append((p["handle"], None if value == "Default Title" else value, rng.choice([1, 1, 1, 2])))
    return items


order_rows = []
events = []
personas_out = []
order_id = 5_000_000_000_000


def event(o, carrier, tracking, promised, when, status, location, desc):
    events.append([o["name"], carrier, tracking, promised.isoformat() if promised else "",
                   when.strftime("%Y-%m-%dT%H:%M:%SZ"), status, location, desc])


def dtime(d, h, m=0):
    return dt.datetime(d.year, d.month, d.day, h, m, rng.randint(0, 59))


for o in orders:
    order_id += rng.randint(1000, 9000)
    if o["key"] is None:
        cust = rng.choices(background, weights=cust_weights)[0]
        o["items"] = choose_items()
        age = (TODAY - o["date"]).days
        r = rng.random()
        if r < 0.03:
            o["state"] = "cancelled"
        elif r < 0.05 and age > 20:
            o["state"] = "refunded"
        elif r < 0.07 and age > 20:
            o["state"] = "returned"
        elif age >= 16:
            o["state"] = "delivered:auto"
        elif age <= 1:
            o["state"] = rng.choice(["unfulfilled", "label"])
        else:
            o["state"] = rng.choice(["transit", "transit", "delivered:auto", "delivered:auto", "out_for_delivery", "delayed"])
    else:
        cust = by_email[o["email"]]
    o["cust"] = cust
    country = cust["country"]
    locale, tz, currency, zone, carrier, _ = COUNTRIES[country]
    if any(h in bikes for h, _, _ in o["items"]) and carrier not in ("DHL Express",):
        pass
    lines = []
    subtotal = 0
    for handle, value, qty in o["items"]:
        p = by_handle[handle]
        price = conv(variant_price(p, value or "Default Title"), currency)
        subtotal += price * qty
        title = p["title"] + (f" - {value}" if value else "")
        lines.append((qty, title, price, sku_of(p, value or "Default Title"), p))
    fee, free_over = SHIPPING_FEE["DE" if country == "DE" else zone]
    shipping = 0 if (free_over and subtotal >= conv(free_over, currency)) else conv(fee, currency)
    discount = 0
    code = ""
    if rng.random() < 0.1:
        code = rng.choice(["WELCOME5", "CLUB10", "WINTER15"])
        discount = int(round(subtotal * {"WELCOME5": 0.05, "CLUB10": 0.10, "WINTER15": 0.15}[code]))
        if currency == "JPY":
            discount = int(round(discount / 100.0)) * 100
    total = subtotal - discount + shipping
    vat = VAT.get(country, 0.0)
    taxes = int(round(total * vat / (1 + vat))) if vat else 0
    if currency == "JPY":
        taxes = int(round(taxes / 100.0)) * 100
    created = dtime(o["date"], rng.randint(7, 22), rng.randint(0, 59))
    if o["date"] == LAST:
        created = dtime(o["date"], rng.randint(7, 12), rng.randint(0, 59))
    state = o["state"]
    financial = "paid"
    refunded = 0
    cancelled_at = ""
    fulfilled = "fulfilled"
    fulfilled_at = ""
    if state == "cancelled":
        financial = "refunded"
        refunded = total
        cancelled_at = (created + dt.timedelta(hours=rng.randint(1, 20))).strftime("%Y-%m-%d %H:%M:%S") + " " + offset(o["date"])
        fulfilled = "unfulfilled"
    elif state == "unfulfilled":
        fulfilled = "unfulfilled"
    elif state == "refunded":
        financial = "refunded"
        refunded = total
    if state not in ("cancelled", "unfulfilled"):
        ship_day = add_business_days(o["date"], 1) if created.hour >= 13 or o["date"].weekday() >= 5 else o["date"]
        if state == "label":
            ship_day = min(ship_day, LAST)
        fulfilled_at = dtime(ship_day, 15, rng.randint(0, 59))
    o["fulfilled_at"] = fulfilled_at
    tz_off = offset(o["date"])
    payment = rng.choice({"DE": ["PayPal", "Klarna", "SEPA Direct Debit", "Visa"], "NL": ["iDEAL", "PayPal"],
                          "BE": ["Bancontact", "Visa"], "JP": ["Visa", "JCB", "PayPal"]}.get(country, ["Visa", "Mastercard", "PayPal", "Apple Pay"]))
    name_parts = cust["name"]
    for i, (qty, title, price, sku, p) in enumerate(lines):
        first = i == 0
        row = {
            "Name": o["name"], "Email": cust["email"] if first else "",
            "Financial Status": financial if first else "",
            "Paid at": created.strftime("%Y-%m-%d %H:%M:%S") + " " + tz_off if first else "",
            "Fulfillment Status": fulfilled if first else "",
            "Fulfilled at": (fulfilled_at.strftime("%Y-%m-%d %H:%M:%S") + " " + tz_off) if (first and fulfilled_at) else "",
            "Accepts Marketing": rng.choice(["yes", "no"]) if first else "",
            "Currency": currency if first else "",
            "Subtotal": money(subtotal, currency) if first else "",
            "Shipping": money(shipping, currency) if first else "",
            "Taxes": money(taxes, currency) if first else "",
            "Total": money(total, currency) if first else "",
            "Discount Code": code if first else "", "Discount Amount": money(discount, currency) if first else "",
            "Shipping Method": SHIPPING_METHOD["DE" if country == "DE" else zone] if first else "",
            "Created at": created.strftime("%Y-%m-%d %H:%M:%S") + " " + tz_off if first else "",
            "Lineitem quantity": qty, "Lineitem name": title, "Lineitem price": money(price, currency),
            "Lineitem compare at price": "", "Lineitem sku": sku,
            "Lineitem requires shipping": "true" if p["grams"] > 0 else "false", "Lineitem taxable": "true",
            "Lineitem fulfillment status": "fulfilled" if fulfilled == "fulfilled" else "pending",
            "Billing Name": name_parts if first else "",
            "Billing Address1": cust["street"] if first else "", "Billing City": cust["city"] if first else "",
            "Billing Zip": cust["zip"] if first else "", "Billing Province": cust["province"] if first else "",
            "Billing Country": country if first else "",
            "Shipping Name": name_parts if first else "", "Shipping Address1": cust["street"] if first else "",
            "Shipping City": cust["city"] if first else "", "Shipping Zip": cust["zip"] if first else "",
            "Shipping Province": cust["province"] if first else "", "Shipping Country": country if first else "",
            "Shipping Phone": cust["phone"] if first else "",
            "Notes": "", "Cancelled at": cancelled_at if first else "", "Payment Method": payment if first else "",
            "Refunded Amount": money(refunded, currency) if first else "", "Vendor": "Ridgeline",
            "Id": str(order_id) if first else "", "Tags": "", "Source": "web" if first else "",
            "Phone": cust["phone"] if first else "",
        }
        order_rows.append(row)
    o["total"] = money(total, currency)
    o["currency"] = currency

    # Parcels and their events
    o["parcel"] = None
    if state in ("cancelled", "unfulfilled"):
        continue
    ship_day = fulfilled_at.date()
    tracking = CARRIER_TRACK[carrier]()
    lo, hi = TRANSIT_DAYS["DE" if country == "DE" else zone]
    promised = add_business_days(ship_day, hi)
    hub = HUB[carrier]
    dest = f"{cust['city']}, {country}"
    o["parcel"] = dict(carrier=carrier, tracking=tracking, promised=promised)
    event(o, carrier, tracking, promised, dtime(ship_day, 14), "label_created", "Freiburg, DE", "Shipping label created")
    if state == "label":
        continue
    event(o, carrier, tracking, promised, dtime(ship_day, 18), "in_transit", hub, "Picked up by carrier")
    if state.startswith("delivered"):
        if state == "delivered:auto":
            ddate = add_business_days(ship_day, rng.randint(lo, hi))
            if ddate > LAST:
                ddate = LAST
        else:
            ddate = dt.date.fromisoformat(state.split(":")[1])
        if (ddate - ship_day).days > 1:
            event(o, carrier, tracking, promised, dtime(ddate - dt.timedelta(days=1), 6), "in_transit",
                  dest, "Arrived at delivery depot")
        event(o, carrier, tracking, promised, dtime(ddate, 11), "out_for_delivery", dest, "Out for delivery")
        event(o, carrier, tracking, promised, dtime(ddate, 14), "delivered", dest, "Delivered")
        o["delivered"] = ddate
    elif state == "transit":
        mid = min(add_business_days(ship_day, 1), LAST)
        event(o, carrier, tracking, promised, dtime(mid, 4), "in_transit", dest if zone == "DE" else "International hub",
              "In transit")
    elif state == "out_for_delivery":
        event(o, carrier, tracking, promised, dtime(LAST, 7), "out_for_delivery", dest, "Out for delivery")
    elif state == "delayed":
        last = add_business_days(ship_day, 2)
        event(o, carrier, tracking, promised, dtime(last, 9), "in_transit", "International hub" if zone != "DE" else "Hannover, DE",
              "Processed at sorting centre")
        event(o, carrier, tracking, promised, dtime(min(add_business_days(last, 2), LAST), 10), "delayed",
              "International hub" if zone != "DE" else "Hannover, DE", "Delayed: backlog at sorting centre")
    elif state == "exception":
        last = add_business_days(ship_day, 3)
        reason = {"CH": "Held by customs: import duties unpaid", "BR": "Held by customs: awaiting importer documents (CPF)",
                  "US": "Address problem: recipient address incomplete"}.get(country, "Delivery exception")
        event(o, carrier, tracking, promised, dtime(last, 8), "in_transit", dest, "Arrived in destination country")
        event(o, carrier, tracking, promised, dtime(min(add_business_days(last, 1), LAST), 13), "exception", dest, reason)
    elif state == "returned":
        ddate = add_business_days(ship_day, lo)
        event(o, carrier, tracking, promised, dtime(ddate, 11), "exception", dest, "Recipient not available, parcel held at pickup point")
        back = add_business_days(ddate, 9)
        event(o, carrier, tracking, promised, dtime(back, 10), "returned", "Freiburg, DE", "Returned to sender: not collected")
    elif state == "refunded":
        ddate = add_business_days(ship_day, rng.randint(lo, hi))
        event(o, carrier, tracking, promised, dtime(ddate, 14), "delivered", dest, "Delivered")
        o["delivered"] = ddate

ORDER_COLUMNS = ["Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing",
                 "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount",
                 "Shipping Method", "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price",
                 "Lineitem compare at price", "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable",
                 "Lineitem fulfillment status", "Billing Name", "Billing Address1", "Billing City", "Billing Zip",
                 "Billing Province", "Billing Country", "Shipping Name", "Shipping Address1", "Shipping City",
                 "Shipping Zip", "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Cancelled at",
                 "Payment Method", "Refunded Amount", "Vendor", "Id", "Tags", "Source", "Phone"]


def main():
    os.makedirs(OUT, exist_ok=True)
    write_products(os.path.join(OUT, "products.csv"), "en")
    write_products(os.path.join(OUT, "products-de.csv"), "de")
    write_products(os.path.join(OUT, "products-ja.csv"), "ja")
    write_customers(os.path.join(OUT, "customers.csv"))
    with open(os.path.join(OUT, "orders.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=ORDER_COLUMNS)
        w.writeheader()
        for row in order_rows:
            w.writerow({k: row.get(k, "") for k in ORDER_COLUMNS})
    with open(os.path.join(OUT, "shipments.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["order_name", "carrier", "tracking_number", "promised_by", "event_time", "status", "location",
                    "description"])
        w.writerows(events)
    with open(os.path.join(OUT, "personas.txt"), "w", encoding="utf-8") as f:
        f.write("# The named customers' orders (generated; the eval cases' facts)\n")
        for p in PERSONAS:
            c = by_email[p["email"]]
            f.write(f"\n{p['name']} <{p['email']}> {c['country']} {c['zip']} {c['city']}, {c['street']}\n")
            for o in orders:
                if o["email"] == p["email"] and o["key"]:
                    parcel = o["parcel"]
                    track = f"{parcel['carrier']} {parcel['tracking']} promised {parcel['promised']}" if parcel else "no parcel"
                    items = "; ".join(f"{q} x {by_handle[h]['title']}" + (f" - {v}" if v else "") for h, v, q in o["items"])
                    f.write(f"  {o['name']:<14} {o['key']:<22} {o['date']} {o['state']:<22} {o['currency']} {o['total']:>9}"
                            f"  {track}  [{items}]\n")
    n_custs = len(customers)
    print(f"products {len(P)}, customers {n_custs}, orders {len(orders)} "
          f"({sum(1 for o in orders if o['name'].startswith('#'))} old format), order rows {len(order_rows)}, "
          f"tracking events {len(events)}")


if __name__ == "__main__":
    main()
