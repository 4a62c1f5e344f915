//! Pod IPs: unique among the pods this fake kubelet runs, from 10.244.0.0/16 like a typical pod CIDR.
//! Addresses are only data (Endpoints, reports); nothing ever connects to them.

use std::collections::HashSet;

#[derive(Default)]
pub struct IpPool {
    used: HashSet<u32>,
    next: u32,
}

const SIZE: u32 = 256 * 254;

impl IpPool {
    /// Marks an address already present on a pod (after a restart of the fake kubelet) as taken.
    pub fn claim(&mut self, ip: &str) {
        if let Some(n) = parse(ip) {
            self.used.insert(n);
        }
    }

    /// A free address; `None` only when all 65 024 are in use.
    pub fn allocate(&mut self) -> Option<String> {
        for _ in 0..SIZE {
            let n = self.next;
            self.next = (self.next + 1) % SIZE;
            if self.used.insert(n) {
                return Some(format!("10.244.{}.{}", n / 254, n % 254 + 1));
            }
        }
        None
    }

    pub fn release(&mut self, ip: &str) {
        if let Some(n) = parse(ip) {
            self.used.remove(&n);
        }
    }
}

fn parse(ip: &str) -> Option<u32> {
    let rest = ip.strip_prefix("10.244.")?;
    let (a, b) = rest.split_once('.')?;
    let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
    (a < 256 && (1..=254).contains(&b)).then(|| a * 254 + b - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unique_until_released() {
        let mut pool = IpPool::default();
        pool.claim("10.244.0.2");
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        assert_eq!(a, "10.244.0.1");
        assert_eq!(b, "10.244.0.3");
        pool.release(&a);
        let all: HashSet<String> = (0..300).filter_map(|_| pool.allocate()).collect();
        assert_eq!(all.len(), 300);
        assert!(!all.contains(&b));
    }
}
