"""Reference data for the simulator: countries, merchants, employers and subscription plans.

The names are real European brands or plausible generic ones, so that generated statements
look like the ones the engine's categoriser and reason texts meet in production. Prices
are typical 2024 euro list prices, rounded. MCCs are ISO 18245 merchant category codes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Place",
    "Merchant",
    "SubscriptionPlan",
    "HOME_COUNTRIES",
    "DESTINATIONS",
    "GROCERS",
    "DISCRETIONARY_MERCHANTS",
    "TRAVEL_BOOKING_MERCHANTS",
    "ABROAD_MERCHANTS",
    "SUBSCRIPTION_PLANS",
    "UTILITY_PROVIDERS",
    "EMPLOYERS",
    "LANDLORDS",
]


@dataclass(frozen=True)
class Place:
    """A country with one representative city, its coordinates and its UTC offset.

    Attributes:
        country: ISO 3166-1 alpha-2 code.
        city: city whose coordinates geo pings scatter around.
        lat, lon: city coordinates in degrees.
        time_zone: IANA time zone name.
        utc_offset_hours: standard-time offset from UTC. The simulator ignores daylight
            saving time.
        currency: ISO 4217 code of the local currency; non-euro spend pays a FX fee.
        weight: relative frequency among home countries or destinations.
    """

    country: str
    city: str
    lat: float
    lon: float
    time_zone: str
    utc_offset_hours: int
    currency: str
    weight: float


@dataclass(frozen=True)
class Merchant:
    """A merchant name as it appears on a statement, with its MCC and typical ticket in EUR."""

    name: str
    mcc: str | None
    ticket: float


@dataclass(frozen=True)
class SubscriptionPlan:
    """A monthly card subscription: merchant, monthly price in EUR and MCC."""

    name: str
    price: float
    mcc: str


HOME_COUNTRIES: tuple[Place, ...] = (
    Place("DE", "Berlin", 52.52, 13.40, "Europe/Berlin", 1, "EUR", 0.30),
    Place("FR", "Paris", 48.86, 2.35, "Europe/Paris", 1, "EUR", 0.15),
    Place("ES", "Madrid", 40.42, -3.70, "Europe/Madrid", 1, "EUR", 0.12),
    Place("IT", "Milan", 45.46, 9.19, "Europe/Rome", 1, "EUR", 0.10),
    Place("NL", "Amsterdam", 52.37, 4.90, "Europe/Amsterdam", 1, "EUR", 0.08),
    Place("PT", "Lisbon", 38.72, -9.14, "Europe/Lisbon", 0, "EUR", 0.07),
    Place("IE", "Dublin", 53.35, -6.26, "Europe/Dublin", 0, "EUR", 0.06),
    Place("FI", "Helsinki", 60.17, 24.94, "Europe/Helsinki", 2, "EUR", 0.06),
    Place("GR", "Athens", 37.98, 23.73, "Europe/Athens", 2, "EUR", 0.06),
)

DESTINATIONS: tuple[Place, ...] = (
    Place("ES", "Barcelona", 41.39, 2.17, "Europe/Madrid", 1, "EUR", 0.14),
    Place("IT", "Rome", 41.90, 12.50, "Europe/Rome", 1, "EUR", 0.12),
    Place("FR", "Nice", 43.70, 7.27, "Europe/Paris", 1, "EUR", 0.08),
    Place("PT", "Porto", 41.15, -8.61, "Europe/Lisbon", 0, "EUR", 0.07),
    Place("GR", "Heraklion", 35.34, 25.13, "Europe/Athens", 2, "EUR", 0.08),
    Place("HR", "Split", 43.51, 16.44, "Europe/Zagreb", 1, "EUR", 0.06),
    Place("AT", "Vienna", 48.21, 16.37, "Europe/Vienna", 1, "EUR", 0.05),
    Place("DE", "Munich", 48.14, 11.58, "Europe/Berlin", 1, "EUR", 0.05),
    Place("NL", "Amsterdam", 52.37, 4.90, "Europe/Amsterdam", 1, "EUR", 0.04),
    Place("GB", "London", 51.51, -0.13, "Europe/London", 0, "GBP", 0.09),
    Place("CH", "Zurich", 47.37, 8.54, "Europe/Zurich", 1, "CHF", 0.03),
    Place("TR", "Antalya", 36.90, 30.70, "Europe/Istanbul", 3, "TRY", 0.05),
    Place("MA", "Marrakesh", 31.63, -8.01, "Africa/Casablanca", 1, "MAD", 0.03),
    Place("US", "New York", 40.71, -74.01, "America/New_York", -5, "USD", 0.06),
    Place("TH", "Bangkok", 13.76, 100.50, "Asia/Bangkok", 7, "THB", 0.03),
    Place("JP", "Tokyo", 35.68, 139.69, "Asia/Tokyo", 9, "JPY", 0.02),
)

# Supermarket chains by home country; a customer shops at two of them.
GROCERS: dict[str, tuple[str, ...]] = {
    "DE": ("REWE", "EDEKA", "LIDL", "ALDI SUED", "NETTO MARKEN-DISCOUNT"),
    "FR": ("CARREFOUR CITY", "MONOPRIX", "LECLERC", "LIDL", "FRANPRIX"),
    "ES": ("MERCADONA", "CARREFOUR EXPRESS", "DIA", "LIDL", "EROSKI"),
    "IT": ("ESSELUNGA", "CONAD", "COOP", "CARREFOUR MARKET", "LIDL"),
    "NL": ("ALBERT HEIJN", "JUMBO", "LIDL", "PLUS", "DIRK"),
    "PT": ("CONTINENTE", "PINGO DOCE", "LIDL", "MINIPRECO", "AUCHAN"),
    "IE": ("TESCO", "DUNNES STORES", "SUPERVALU", "LIDL", "ALDI"),
    "FI": ("K-MARKET", "S-MARKET", "PRISMA", "LIDL", "ALEPA"),
    "GR": ("AB VASSILOPOULOS", "SKLAVENITIS", "MY MARKET", "LIDL", "MASOUTIS"),
}

# Everyday card spend at home, by engine category.
DISCRETIONARY_MERCHANTS: dict[str, tuple[Merchant, ...]] = {
    "dining": (
        Merchant("STARBUCKS", "5814", 6.5),
        Merchant("MCDONALDS", "5814", 11.0),
        Merchant("BURGER KING", "5814", 12.0),
        Merchant("PIZZERIA DA MARIO", "5812", 28.0),
        Merchant("SUSHI BAR KOI", "5812", 34.0),
        Merchant("BISTRO LE COIN", "5812", 42.0),
        Merchant("WOLT", "5812", 24.0),
        Merchant("UBER EATS", "5812", 26.0),
        Merchant("DELIVEROO", "5812", 25.0),
    ),
    "transport": (
        Merchant("UBER TRIP", "4121", 16.0),
        Merchant("BOLT.EU", "4121", 12.0),
        Merchant("SHELL", "5541", 58.0),
        Merchant("TOTALENERGIES", "5541", 55.0),
        Merchant("CITY TRANSIT TICKET", "4111", 3.2),
        Merchant("NATIONAL RAIL", "4112", 29.0),
        Merchant("LIME SCOOTER", "4789", 4.5),
    ),
    "shopping": (
        Merchant("AMAZON EU", "5999", 38.0),
        Merchant("ZALANDO", "5691", 62.0),
        Merchant("IKEA", "5200", 85.0),
        Merchant("H&M", "5651", 35.0),
        Merchant("ZARA", "5691", 48.0),
        Merchant("MEDIAMARKT", "5732", 120.0),
        Merchant("DECATHLON", "5999", 45.0),
        Merchant("DOUGLAS", "5977", 32.0),
    ),
    "entertainment": (
        Merchant("CINEMAXX", "7832", 24.0),
        Merchant("STEAM GAMES", "5816", 19.0),
        Merchant("TICKETMASTER", "7922", 65.0),
        Merchant("PLAYSTATION STORE", "5816", 22.0),
        Merchant("BOWLING CENTER", "7999", 30.0),
    ),
    "travel": (
        Merchant("INTERCITY RAIL", "4112", 65.0),
        Merchant("FLIXBUS", "4131", 28.0),
        Merchant("AIRPORT PARKING", "7523", 45.0),
        Merchant("HOLIDAY INN EXPRESS", "7011", 110.0),
    ),
    "health": (
        Merchant("PHARMACY", "5912", 18.0),
        Merchant("DENTAL PRACTICE", "8021", 95.0),
        Merchant("DOCTOR PRIVATE PRACTICE", "8011", 60.0),
        Merchant("OPTICIAN", "8043", 70.0),
    ),
}

# Bookings paid from home before a trip, all in the travel category.
TRAVEL_BOOKING_MERCHANTS: tuple[Merchant, ...] = (
    Merchant("RYANAIR", "4511", 140.0),
    Merchant("EASYJET", "4511", 160.0),
    Merchant("LUFTHANSA", "3008", 320.0),
    Merchant("BOOKING.COM", "7011", 380.0),
    Merchant("AIRBNB", "7011", 420.0),
    Merchant("EXPEDIA", "4722", 650.0),
)

# Spend during a trip: (engine category, merchant template, MCC, typical ticket in EUR).
# "{city}" is replaced with the destination city.
ABROAD_MERCHANTS: tuple[tuple[str, str, str, float], ...] = (
    ("travel", "HOTEL {city}", "7011", 140.0),
    ("travel", "SIXT {city}", "7512", 75.0),
    ("travel", "TAXI {city}", "4121", 22.0),
    ("travel", "MUSEUM {city}", "7999", 18.0),
    ("dining", "RESTAURANT {city}", "5812", 38.0),
    ("dining", "CAFE {city}", "5814", 9.0),
    ("shopping", "SOUVENIR SHOP {city}", "5999", 28.0),
)

SUBSCRIPTION_PLANS: tuple[SubscriptionPlan, ...] = (
    SubscriptionPlan("NETFLIX.COM", 13.99, "4899"),
    SubscriptionPlan("SPOTIFY", 10.99, "5815"),
    SubscriptionPlan("DISNEY PLUS", 9.99, "4899"),
    SubscriptionPlan("AMAZON PRIME", 8.99, "5815"),
    SubscriptionPlan("APPLE.COM/BILL", 2.99, "5815"),
    SubscriptionPlan("YOUTUBE PREMIUM", 12.99, "5815"),
    SubscriptionPlan("AUDIBLE", 9.95, "5815"),
    SubscriptionPlan("BASIC-FIT", 29.99, "7997"),
    SubscriptionPlan("MCFIT", 24.90, "7997"),
    SubscriptionPlan("NEWSPAPER DIGITAL", 14.99, "5994"),
)

# Direct debits for energy, phone and internet: (provider, share of the utilities budget).
UTILITY_PROVIDERS: tuple[tuple[str, float], ...] = (
    ("E.ON ENERGIE", 0.55),
    ("VODAFONE", 0.25),
    ("TELEKOM INTERNET", 0.20),
)

EMPLOYERS: tuple[str, ...] = (
    "NORDWIND LOGISTICS GMBH",
    "ATLAS SOFTWARE BV",
    "SOLARIS ENERGY SA",
    "CITY HOSPITAL",
    "MUNICIPALITY PAYROLL",
    "VERDE RETAIL SPA",
    "HELIX PHARMA AG",
    "BLUEWAVE TELECOM",
    "UNIVERSITY PAYROLL",
    "ALPINE ENGINEERING GMBH",
)

LANDLORDS: tuple[str, ...] = (
    "VONOVIA SE",
    "HAUSVERWALTUNG MUELLER",
    "CITY HOUSING ASSOCIATION",
    "LANDLORD J. SMITH",
    "RESIDENTIAL PROPERTIES LTD",
)
