//! The order in which RedisGears' own hash table lists its keys.
//!
//! RedisGears keeps the fields of a hash value (and of other "hash set" records) in
//! its copy of the Redis dict, hashed with SipHash-1-2 under an all-zero key, and
//! builds the Python dict by iterating that table. Python dicts keep insertion order,
//! so `str()` of a record shows the fields in the table's order, not in the order
//! Redis returned them, and scripts and tests that print records depend on it. This
//! module replays the table: 4 buckets at first, doubling when full, incremental
//! rehashing one bucket per insert, new entries at the head of their bucket, and
//! iteration over the old table then the new one.

/// SipHash with `c` compression and `d` finalization rounds (RedisGears: 1 and 2).
fn siphash(data: &[u8], key: [u8; 16], c: usize, d: usize) -> u64 {
    let k0 = u64::from_le_bytes(key[..8].try_into().unwrap_or([0; 8]));
    let k1 = u64::from_le_bytes(key[8..].try_into().unwrap_or([0; 8]));
    let mut v = [
        0x736f_6d65_7073_6575 ^ k0,
        0x646f_7261_6e64_6f6d ^ k1,
        0x6c79_6765_6e65_7261 ^ k0,
        0x7465_6462_7974_6573 ^ k1,
    ];
    let round = |v: &mut [u64; 4]| {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    };
    let mut chunks = data.chunks_exact(8);
    for chunk in chunks.by_ref() {
        let m = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        v[3] ^= m;
        for _ in 0..c {
            round(&mut v);
        }
        v[0] ^= m;
    }
    let mut last = (data.len() as u64) << 56;
    for (index, byte) in chunks.remainder().iter().enumerate() {
        last |= u64::from(*byte) << (8 * index);
    }
    v[3] ^= last;
    for _ in 0..c {
        round(&mut v);
    }
    v[0] ^= last;
    v[2] ^= 0xff;
    for _ in 0..d {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

fn hash(key: &[u8]) -> u64 {
    siphash(key, [0; 16], 1, 2)
}

/// One table: buckets of entry indexes, the head of a chain first.
struct Table {
    buckets: Vec<Vec<usize>>,
    used: usize,
}

impl Table {
    fn new(size: usize) -> Table {
        Table {
            buckets: vec![Vec::new(); size],
            used: 0,
        }
    }
    fn mask(&self) -> u64 {
        self.buckets.len() as u64 - 1
    }
}

/// The iteration order of RedisGears' dict after inserting `keys` in this order:
/// the indexes of `keys` as the table lists them. A key given twice keeps its first
/// place (the table replaces its value).
pub fn iteration_order(keys: &[&[u8]]) -> Vec<usize> {
    const INITIAL_SIZE: usize = 4;
    let mut main: Option<Table> = None;
    let mut next: Option<Table> = None;
    let mut rehash_index = 0usize;
    let hashes: Vec<u64> = keys.iter().map(|k| hash(k)).collect();
    let mut seen: Vec<&[u8]> = Vec::new();

    let rehash_step =
        |main: &mut Option<Table>, next: &mut Option<Table>, rehash_index: &mut usize| {
            let (Some(old), Some(new)) = (main.as_mut(), next.as_mut()) else {
                return;
            };
            // Like dictRehash(d, 1): move one non-empty bucket, visiting at most 10 empty ones.
            let mut empty_visits = 10;
            while old.used > 0
                && *rehash_index < old.buckets.len()
                && old.buckets[*rehash_index].is_empty()
            {
                *rehash_index += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    return;
                }
            }
            if old.used > 0 && *rehash_index < old.buckets.len() {
                let chain = std::mem::take(&mut old.buckets[*rehash_index]);
                for entry in chain {
                    let bucket = (hashes[entry] & new.mask()) as usize;
                    new.buckets[bucket].insert(0, entry);
                    old.used -= 1;
                    new.used += 1;
                }
                *rehash_index += 1;
            }
            if old.used == 0 {
                *main = next.take();
                *rehash_index = 0;
            }
        };

    for (index, key) in keys.iter().enumerate() {
        if next.is_some() {
            rehash_step(&mut main, &mut next, &mut rehash_index);
        }
        if seen.contains(key) {
            continue;
        }
        seen.push(key);
        // _dictExpandIfNeeded (never while rehashing).
        if next.is_none() {
            match &main {
                None => main = Some(Table::new(INITIAL_SIZE)),
                Some(table) if table.used >= table.buckets.len() => {
                    let size = (table.used * 2).max(INITIAL_SIZE).next_power_of_two();
                    next = Some(Table::new(size));
                    rehash_index = 0;
                }
                Some(_) => {}
            }
        }
        let target = match next.as_mut() {
            Some(table) => table,
            None => match main.as_mut() {
                Some(table) => table,
                None => continue,
            },
        };
        let bucket = (hashes[index] & target.mask()) as usize;
        target.buckets[bucket].insert(0, index);
        target.used += 1;
    }
    let mut order = Vec::with_capacity(seen.len());
    for table in [main, next].into_iter().flatten() {
        for bucket in table.buckets {
            order.extend(bucket);
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_2_4_reference_vectors() {
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash(b"", key, 2, 4), 0x726f_db47_dd0e_0e31);
        let fifteen: Vec<u8> = (0..15).collect();
        assert_eq!(siphash(&fifteen, key, 2, 4), 0xa129_ca61_49be_45e5);
    }

    fn ordered<'a>(keys: &[&'a str]) -> Vec<&'a str> {
        let bytes: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        iteration_order(&bytes)
            .into_iter()
            .map(|i| keys[i])
            .collect()
    }

    #[test]
    fn orders_upstream_prints() {
        // The KeysReader record and a two-field hash, as RedisGears prints them.
        assert_eq!(
            ordered(&["key", "value", "type", "event"]),
            ["event", "key", "type", "value"]
        );
        assert_eq!(ordered(&["key", "event"]), ["event", "key"]);
        assert_eq!(ordered(&["name", "age"]), ["age", "name"]);
        // Both land in one bucket, where the later insert comes first.
        assert_eq!(ordered(&["age", "name"]), ["name", "age"]);
    }

    #[test]
    fn every_key_is_listed_once_through_expansions() {
        let keys: Vec<String> = (0..200).map(|i| format!("field{i}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut order = ordered(&refs);
        assert_eq!(order.len(), 200);
        order.sort_unstable();
        order.dedup();
        assert_eq!(order.len(), 200);
        assert_eq!(ordered(&["a", "b", "a"]).len(), 2);
    }
}
