"""What the seeded orders are made of: currencies, products, names, addresses, carriers."""

from __future__ import annotations

CURRENCIES = ("MYR", "SGD", "THB", "BRL", "USD")
RATE = {"MYR": 4.4, "SGD": 1.35, "THB": 35.0, "BRL": 5.3, "USD": 1.0}
CATALOG = (
    ("TWS-EARBUD-BLK", "Wireless earbuds, black", 2990),
    ("PWR-BANK-10K", "Power bank 10000 mAh", 1890),
    ("USB-C-CABLE-2M", "USB-C cable, 2 m", 590),
    ("PHONE-CASE-CLR", "Clear phone case", 790),
    ("SMART-WATCH-S2", "Smart watch S2", 5990),
    ("LED-DESK-LAMP", "LED desk lamp", 2490),
    ("YOGA-MAT-6MM", "Yoga mat, 6 mm", 1990),
    ("WATER-BTL-750", "Insulated bottle, 750 ml", 1490),
    ("BT-SPEAKER-MINI", "Mini Bluetooth speaker", 2290),
    ("KEYBOARD-MECH", "Mechanical keyboard", 6990),
    ("MOUSE-WLS", "Wireless mouse", 1290),
    ("BACKPACK-20L", "Laptop backpack, 20 l", 3490),
)
LATIN_NAMES = (
    "Siti Rahman",
    "Ahmad Faiz",
    "Rachel Goh",
    "James Wong",
    "Emily Carter",
    "Michael Brown",
    "Aaron Lim",
    "Farah Ismail",
    "Kevin Ng",
    "Sarah Johnson",
)
NON_LATIN_NAMES = (
    "สมชาย ใจดี",
    "วิไลวรรณ ศรีสุข",
    "王小明",
    "陈美玲",
    "李伟",
    "Nguyễn Thị Hương",
    "Trần Văn Đức",
    "Phạm Minh Châu",
    "João Gonçalves",
    "Conceição Araújo",
    "Estêvão Simões",
)
ADDRESSES = {
    "MYR": (
        "12 Jalan Ampang, 50450 Kuala Lumpur, Malaysia",
        "8 Lorong Bunus, 10250 George Town, Penang, Malaysia",
    ),
    "SGD": (
        "21 Tampines Ave 1, #05-12, Singapore 529757",
        "3 Jurong East St 32, #11-04, Singapore 609477",
    ),
    "THB": (
        "99/12 ถนนสุขุมวิท แขวงคลองเตย กรุงเทพฯ 10110, Thailand",
        "45 Nimmanhaemin Rd, Chiang Mai 50200, Thailand",
    ),
    "BRL": (
        "Rua Augusta, 1500, São Paulo - SP, 01304-001, Brasil",
        "Av. Atlântica, 2000, Rio de Janeiro - RJ, 22021-001, Brasil",
    ),
    "USD": (
        "500 Market St, San Francisco, CA 94105, USA",
        "77 Massachusetts Ave, Cambridge, MA 02139, USA",
    ),
}
PAYMENTS = {
    "MYR": ("Online banking (FPX)", "Credit card (Visa •••• 4242)", "E-wallet"),
    "SGD": ("PayNow", "Credit card (Mastercard •••• 5100)"),
    "THB": ("PromptPay", "Credit card (Visa •••• 1881)"),
    "BRL": ("Pix", "Boleto bancário", "Cartão de crédito (Visa •••• 0005)"),
    "USD": ("PayPal", "Credit card (Amex •••• 0005)"),
}
CARRIERS = {
    "MYR": ("J&T Express", "Pos Laju"),
    "SGD": ("Ninja Van",),
    "THB": ("Kerry Express", "Flash Express"),
    "BRL": ("Correios",),
    "USD": ("UPS", "USPS"),
}
HUBS = {
    "MYR": ("Shah Alam Hub", "Kuala Lumpur DC"),
    "SGD": ("Singapore Sort Centre",),
    "THB": ("Bangkok Hub", "Chiang Mai DC"),
    "BRL": ("CTE São Paulo", "CDD Rio"),
    "USD": ("Oakland, CA", "Chicago, IL"),
}
REFUND_REASONS = ("not_received", "damaged", "wrong_item", "other")
ID_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
