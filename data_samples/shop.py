"""The synthetic shop's world: a catalog with categories, brands and pairs, and users with tastes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

# Top category -> sub category -> leaf categories. Leaves carry a typical price.
CATEGORY_TREE = {
    "Electronics": {
        "Phones": {"Smartphones": 450, "Basic Phones": 60},
        "Phone Accessories": {"Chargers": 25, "Phone Cases": 15, "Cables": 10},
        "Computers": {"Laptops": 900, "Tablets": 350},
        "Computer Accessories": {"Mice": 30, "Laptop Bags": 45, "Keyboards": 60},
        "Audio": {"Headphones": 120, "Speakers": 90},
    },
    "Home": {
        "Kitchen": {"Mugs": 9, "Coffee Machines": 220, "Coffee Beans": 14, "Kettles": 40},
        "Decor": {"Candles": 12, "Picture Frames": 18, "Cushions": 22},
        "Bedding": {"Pillows": 30, "Duvets": 80},
    },
    "Fashion": {
        "Shoes": {"Running Shoes": 95, "Boots": 130},
        "Clothing": {"T-Shirts": 20, "Jackets": 110},
        "Accessories": {"Socks": 8, "Backpacks": 55},
    },
    "Sports": {
        "Camping": {"Tents": 180, "Sleeping Bags": 70, "Camping Stoves": 50},
        "Fitness": {"Yoga Mats": 28, "Dumbbells": 45},
    },
    "Beauty": {
        "Skincare": {"Face Creams": 25, "Cleansers": 14},
        "Hair": {"Shampoo": 9, "Conditioner": 9},
    },
    "Toys": {
        "Games": {"Board Games": 35, "Puzzles": 18},
        "Outdoor Toys": {"Balls": 12, "Kites": 20},
    },
    "Books": {
        "Fiction": {"Novels": 14, "Thrillers": 13},
        "Non-fiction": {"Cookbooks": 25, "Travel Guides": 20},
    },
}

# Items that sell together: buying an item of the first leaf often adds one of the second.
PAIRED_LEAVES = [
    ("Smartphones", "Chargers"), ("Smartphones", "Phone Cases"), ("Basic Phones", "Chargers"),
    ("Laptops", "Mice"), ("Laptops", "Laptop Bags"), ("Tablets", "Cables"),
    ("Coffee Machines", "Coffee Beans"), ("Coffee Machines", "Mugs"), ("Tents", "Sleeping Bags"),
    ("Tents", "Camping Stoves"), ("Shampoo", "Conditioner"), ("Running Shoes", "Socks"),
    ("Duvets", "Pillows"), ("Board Games", "Puzzles"),
]

ADJECTIVES = ["Classic", "Pro", "Lite", "Max", "Eco", "Smart", "Ultra", "Mini", "Plus", "Air", "Prime", "Urban"]
SYLLABLES = ["vol", "tix", "nor", "haus", "ka", "zen", "lum", "ora", "bex", "qui", "ton", "mar", "vio", "dex"]
DEVICES = (["mobile", "desktop", "tablet"], [0.6, 0.3, 0.1])
COUNTRIES = (["GB", "DE", "FR", "NL", "ES", "IT", "PL", "SE"], [0.35, 0.18, 0.14, 0.08, 0.08, 0.07, 0.06, 0.04])
MARGIN_TIERS = (["low", "medium", "high"], [0.3, 0.5, 0.2])


@dataclass
class Catalog:
    """Item attributes as parallel arrays; index i is item id `i{i:06d}`."""

    ids: np.ndarray          # object array of str
    titles: np.ndarray
    top: np.ndarray          # index into tops
    leaf: np.ndarray         # index into leaves
    brand: np.ndarray        # index into brands[top]
    price: np.ndarray
    in_stock: np.ndarray
    created_day: np.ndarray  # day index of creation; negative = before the first day
    promoted: np.ndarray
    margin: np.ndarray       # str
    popularity: np.ndarray   # relative weight, long-tailed
    appeal: np.ndarray       # conversion propensity in [0, 1]
    complements: np.ndarray  # (n_items, 3) item indices that pair with the item, -1 padded
    tops: list[str]
    leaves: list[str]        # full paths "Top > Sub > Leaf"
    leaf_top: np.ndarray
    brands: list[list[str]]


@dataclass
class Users:
    """User attributes as parallel arrays; index u is user id `u{u:07d}`."""

    ids: np.ndarray
    taste: np.ndarray        # (n_users, n_tops) probabilities
    favourite_brand: np.ndarray  # (n_users, n_tops) brand index per top category
    rate: np.ndarray         # expected sessions per day
    signup_day: np.ndarray   # day index from which the user is active
    device: np.ndarray
    country: np.ndarray


def brand_names(rng: np.random.Generator, count: int) -> list[str]:
    """Made-up, pronounceable, distinct brand names."""
    names: list[str] = []
    while len(names) < count:
        name = "".join(rng.choice(SYLLABLES, size=2)).capitalize()
        if name not in names:
            names.append(name)
    return names


def make_catalog(rng: np.random.Generator, n_items: int, days: int, new_item_share: float = 0.06,
                 brands_per_top: int = 8) -> Catalog:
    """A catalog of `n_items` spread over the leaves, with long-tailed popularity and pairs."""
    tops = list(CATEGORY_TREE)
    leaves, leaf_top, leaf_price = [], [], []
    for t, (top, subs) in enumerate(CATEGORY_TREE.items()):
        for sub, leaf_prices in subs.items():
            for leaf, price in leaf_prices.items():
                leaves.append(f"{top} > {sub} > {leaf}")
                leaf_top.append(t)
                leaf_price.append(price)
    leaf_top, leaf_price = np.array(leaf_top), np.array(leaf_price, dtype=float)
    all_brands = brand_names(rng, brands_per_top * len(tops))
    brands = [all_brands[t * brands_per_top:(t + 1) * brands_per_top] for t in range(len(tops))]

    leaf = rng.integers(0, len(leaves), n_items)
    top = leaf_top[leaf]
    brand = rng.zipf(1.6, n_items).clip(1, brands_per_top) - 1
    price = np.round(leaf_price[leaf] * rng.lognormal(0.0, 0.35, n_items), 2)
    leaf_names = np.array([p.split(" > ")[-1] for p in leaves], dtype=object)
    adjective = rng.choice(ADJECTIVES, n_items)
    model = rng.integers(1, 99, n_items)
    titles = np.array([f"{brands[t][b]} {a} {leaf_names[lf].rstrip('s')} {m}"
                       for t, b, a, lf, m in zip(top, brand, adjective, leaf, model)], dtype=object)
    created = -rng.integers(1, 720, n_items)
    is_new = rng.random(n_items) < new_item_share
    created[is_new] = rng.integers(1, max(days, 2), is_new.sum())
    popularity = rng.lognormal(0.0, 1.4, n_items)
    complements = _pair_items(rng, leaf, brand, popularity, leaf_names)
    return Catalog(
        ids=np.array([f"i{i:06d}" for i in range(n_items)], dtype=object),
        titles=titles, top=top, leaf=leaf, brand=brand, price=price,
        in_stock=rng.random(n_items) < 0.93, created_day=created,
        promoted=rng.random(n_items) < 0.05,
        margin=rng.choice(MARGIN_TIERS[0], n_items, p=MARGIN_TIERS[1]),
        popularity=popularity, appeal=rng.beta(2.0, 5.0, n_items), complements=complements,
        tops=tops, leaves=leaves, leaf_top=leaf_top, brands=brands,
    )


def _pair_items(rng, leaf, brand, popularity, leaf_names, width: int = 3) -> np.ndarray:
    """For each item of a paired leaf, up to `width` complements, same brand first."""
    by_name = {name: i for i, name in enumerate(leaf_names)}
    complements = np.full((len(leaf), width), -1, dtype=np.int64)
    for anchor_name, other_name in PAIRED_LEAVES:
        anchors = np.flatnonzero(leaf == by_name[anchor_name])
        others = np.flatnonzero(leaf == by_name[other_name])
        if len(others) == 0:
            continue
        for a in anchors:
            free = np.flatnonzero(complements[a] < 0)
            if len(free) == 0:
                continue
            same_brand = others[brand[others] == brand[a]]
            pool = same_brand if len(same_brand) else others
            weights = popularity[pool] / popularity[pool].sum()
            pick = rng.choice(pool, size=min(len(free), len(pool), 2), replace=False, p=weights)
            complements[a, free[:len(pick)]] = pick
    return complements


def make_users(rng: np.random.Generator, n_users: int, n_tops: int, brands_per_top: int, days: int,
               new_user_share: float = 0.1, sessions_per_day: float = 0.3) -> Users:
    """Users with tastes concentrated on a few categories, favourite brands and activity levels."""
    taste = rng.dirichlet(np.full(n_tops, 0.25), n_users)
    signup = np.zeros(n_users, dtype=np.int64)
    late = rng.random(n_users) < new_user_share
    signup[late] = rng.integers(1, max(days, 2), late.sum())
    rate = sessions_per_day * rng.lognormal(-0.32, 0.8, n_users)  # mean ~ sessions_per_day
    return Users(
        ids=np.array([f"u{u:07d}" for u in range(n_users)], dtype=object),
        taste=taste,
        favourite_brand=rng.integers(0, brands_per_top, (n_users, n_tops)),
        rate=rate, signup_day=signup,
        device=rng.choice(DEVICES[0], n_users, p=DEVICES[1]),
        country=rng.choice(COUNTRIES[0], n_users, p=COUNTRIES[1]),
    )


def catalog_rows(catalog: Catalog, items: np.ndarray, start: dt.date) -> dict[str, list]:
    """Canonical catalog columns for the given item indices."""
    created = [dt.datetime.combine(start + dt.timedelta(days=int(d)), dt.time()).isoformat() + "Z"
               for d in catalog.created_day[items]]
    return {
        "item_id": catalog.ids[items].tolist(),
        "title": catalog.titles[items].tolist(),
        "category": [catalog.leaves[leaf] for leaf in catalog.leaf[items]],
        "brand": [catalog.brands[t][b] for t, b in zip(catalog.top[items], catalog.brand[items])],
        "price": catalog.price[items].tolist(),
        "in_stock": catalog.in_stock[items].tolist(),
        "created_at": created,
        "promoted": catalog.promoted[items].tolist(),
        "margin_tier": catalog.margin[items].tolist(),
    }
