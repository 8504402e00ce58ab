"""Content features of catalog items and their nearest neighbours (faiss), for cold items.

One hashed sparse-in-spirit vector per item, dense float32 of `content.hash_dim` columns:
- title tokens (upper-cased words of 2+ letters), TF-IDF weighted over the catalog;
- every prefix of the category path ("Home", "Home > Kitchen", ...);
- the brand; the price band (content.price_bands edges).
Each block is L2-normalised and scaled by content.weights[block]; the whole vector is
L2-normalised, so inner product is cosine. Single node: the matrix of the catalog is
held in memory (stated limit content.max_items; 200k items x 2048 dims is 1.6 GB).
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import pandas as pd

from conf.schema import AnnConfig, ContentConfig
from models.ann import build_index, search

TOKEN = re.compile(r"[A-Z0-9]{2,}")


class ContentError(RuntimeError):
    """Content features cannot be built as configured."""


def bucket(feature: str, dim: int) -> int:
    """A stable hash bucket (crc32: the same in every process and language)."""
    return zlib.crc32(feature.encode()) % dim


def title_tokens(title) -> list[str]:
    return sorted(set(TOKEN.findall(str(title or "").upper())))


def category_prefixes(category) -> list[str]:
    parts = [p.strip() for p in str(category or "").split(">") if p.strip()]
    return [" > ".join(parts[: i + 1]) for i in range(len(parts))]


def price_band(price, edges: list[float]) -> str:
    if price is None or pd.isna(price):
        return "unknown"
    return str(int(np.searchsorted(np.asarray(edges), float(price), side="right")))


def _add_block(matrix: np.ndarray, rows: list[dict[int, float]], weight: float) -> None:
    for i, values in enumerate(rows):
        if not values:
            continue
        norm = np.sqrt(sum(v * v for v in values.values()))
        for col, value in values.items():
            matrix[i, col] += weight * value / norm


def features(catalog: pd.DataFrame, settings: ContentConfig) -> np.ndarray:
    """L2-normalised float32 feature rows, in the order of catalog's rows (item_id, title, category, brand, price)."""
    if len(catalog) > settings.max_items:
        raise ContentError(f"{len(catalog):,} catalog items exceed content.max_items={settings.max_items:,} "
                           "(single node); raise it if the driver has the memory, or lower content.hash_dim")
    dim = settings.hash_dim
    matrix = np.zeros((len(catalog), dim), dtype=np.float32)
    tokens = [title_tokens(t) for t in catalog["title"]]
    doc_freq: dict[str, int] = {}
    for words in tokens:
        for word in words:
            doc_freq[word] = doc_freq.get(word, 0) + 1
    n = max(len(catalog), 1)
    blocks = {
        "title": [{bucket("t:" + w, dim): np.log((1 + n) / (1 + doc_freq[w])) + 1 for w in words} for words in tokens],
        "category": [{bucket("c:" + p, dim): 1.0 for p in category_prefixes(c)} for c in catalog["category"]],
        "brand": [{bucket("b:" + str(b).strip().lower(), dim): 1.0} if b is not None and str(b).strip() and
                  not pd.isna(b) else {} for b in catalog["brand"]],
        "price": [{bucket("p:" + price_band(p, settings.price_bands), dim): 1.0} for p in catalog["price"]],
    }
    for name, rows in blocks.items():
        _add_block(matrix, rows, settings.weights.get(name, 0.0))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def neighbours(catalog: pd.DataFrame, settings: ContentConfig, ann: AnnConfig) -> pd.DataFrame:
    """item_id, neighbour_id, score, rank: the content.top_k most similar other items of every item."""
    if catalog.empty:
        return pd.DataFrame({"item_id": [], "neighbour_id": [], "score": [], "rank": []})
    ids = catalog["item_id"].to_numpy(dtype=object)
    vectors = features(catalog, settings)
    scores, found = search(build_index(vectors, ann), vectors, settings.top_k + 1)
    rows = {"item_id": [], "neighbour_id": [], "score": [], "rank": []}
    for i, item in enumerate(ids):
        rank = 0
        for pos, value in zip(found[i], scores[i]):
            if pos < 0 or pos == i or value <= 0:
                continue
            rank += 1
            rows["item_id"].append(item)
            rows["neighbour_id"].append(ids[pos])
            rows["score"].append(float(value))
            rows["rank"].append(rank)
            if rank == settings.top_k:
                break
    return pd.DataFrame(rows).astype({"score": np.float32, "rank": np.int32})
