//! Recovery networking over rtnetlink (neli, synchronous): add a link's configured
//! addresses, bring it up, add its default route and its static routes, exactly as
//! configured (no DHCP). Every step is reported, so the console can say what worked.

use crate::appliance::config::{Cidr, Interface};
use neli::consts::nl::NlmF;
use neli::consts::rtnl::{
    Arphrd, Ifa, IfaF, Iff, RtAddrFamily, RtScope, RtTable, Rta, RtaType, Rtm, RtmF, Rtn, Rtprot,
};
use neli::consts::socket::NlFamily;
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::rtnl::{IfaddrmsgBuilder, IfinfomsgBuilder, Rtattr, RtattrBuilder, RtmsgBuilder};
use neli::socket::synchronous::NlSocketHandle;
use neli::types::{Buffer, RtBuffer};
use neli::utils::Groups;
use std::net::IpAddr;

/// Metric of the first interface's default route; later interfaces get higher ones,
/// so every configured gateway is installed and the first configured one wins.
const DEFAULT_ROUTE_METRIC: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("cannot open a netlink socket: {0}")]
    Open(std::io::Error),
    #[error("netlink request failed: {0}")]
    Request(String),
    #[error("{0}")]
    Kernel(std::io::Error),
}

pub use crate::state::recovery::{InterfaceResult, InterfaceStep as Step};

/// A route-netlink socket that sends one request at a time and waits for its ack.
pub struct Netlink {
    sock: NlSocketHandle,
}

impl Netlink {
    pub fn open() -> Result<Netlink, NetlinkError> {
        let sock = NlSocketHandle::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| NetlinkError::Open(std::io::Error::other(e.to_string())))?;
        Ok(Netlink { sock })
    }

    fn request<P>(&mut self, ty: Rtm, extra: NlmF, payload: P) -> Result<(), NetlinkError>
    where
        P: neli::ToBytes + neli::Size + std::fmt::Debug,
    {
        let msg = NlmsghdrBuilder::default()
            .nl_type(ty)
            .nl_flags(NlmF::REQUEST | NlmF::ACK | extra)
            .nl_payload(NlPayload::Payload(payload))
            .build()
            .map_err(|e| NetlinkError::Request(e.to_string()))?;
        self.sock
            .send(&msg)
            .map_err(|e| NetlinkError::Request(e.to_string()))?;
        loop {
            let (msgs, _) = self
                .sock
                .recv::<Rtm, Buffer>()
                .map_err(|e| NetlinkError::Request(e.to_string()))?;
            let mut any = false;
            for m in msgs {
                any = true;
                let m = m.map_err(|e| NetlinkError::Request(e.to_string()))?;
                match m.nl_payload() {
                    NlPayload::Ack(_) => return Ok(()),
                    NlPayload::Err(e) => {
                        return Err(NetlinkError::Kernel(std::io::Error::from_raw_os_error(
                            -*e.error(),
                        )));
                    }
                    _ => {}
                }
            }
            if !any {
                return Err(NetlinkError::Request("no answer from the kernel".into()));
            }
        }
    }

    /// Sets the link administratively up.
    pub fn link_up(&mut self, index: i32) -> Result<(), NetlinkError> {
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .ifi_type(Arphrd::from(0))
            .ifi_index(index)
            .ifi_flags(Iff::UP)
            .ifi_change(Iff::UP)
            .build()
            .map_err(|e| NetlinkError::Request(e.to_string()))?;
        self.request(Rtm::Newlink, NlmF::empty(), msg)
    }

    /// Adds an address (an address that is already there counts as added).
    pub fn add_address(&mut self, index: i32, cidr: Cidr) -> Result<(), NetlinkError> {
        let (family, bytes, flags) = match cidr.addr {
            IpAddr::V4(a) => (RtAddrFamily::Inet, a.octets().to_vec(), IfaF::empty()),
            // No duplicate address detection: sshd must bind at once, not in 2 s.
            IpAddr::V6(a) => (RtAddrFamily::Inet6, a.octets().to_vec(), IfaF::NODAD),
        };
        let mut attrs = RtBuffer::new();
        attrs.push(attr(Ifa::Local, &bytes)?);
        attrs.push(attr(Ifa::Address, &bytes)?);
        let msg = IfaddrmsgBuilder::default()
            .ifa_family(family)
            .ifa_prefixlen(cidr.prefix)
            .ifa_flags(flags)
            .ifa_scope(RtScope::Universe)
            .ifa_index(index as u32)
            .rtattrs(attrs)
            .build()
            .map_err(|e| NetlinkError::Request(e.to_string()))?;
        match self.request(Rtm::Newaddr, NlmF::CREATE | NlmF::REPLACE, msg) {
            Err(NetlinkError::Kernel(e)) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// Adds (or replaces) a route through `via` on interface `index`; `to` None is
    /// the default route.
    pub fn add_route(
        &mut self,
        index: i32,
        to: Option<Cidr>,
        via: IpAddr,
        metric: Option<u32>,
    ) -> Result<(), NetlinkError> {
        let family = match via {
            IpAddr::V4(_) => RtAddrFamily::Inet,
            IpAddr::V6(_) => RtAddrFamily::Inet6,
        };
        let mut attrs = RtBuffer::new();
        let mut dst_len = 0;
        if let Some(dst) = to {
            if dst.addr.is_ipv4() != via.is_ipv4() {
                return Err(NetlinkError::Request(format!(
                    "route to {dst} via {via} mixes IPv4 and IPv6"
                )));
            }
            dst_len = dst.prefix;
            attrs.push(attr(Rta::Dst, &ip_bytes(network(dst)))?);
        }
        attrs.push(attr(Rta::Gateway, &ip_bytes(via))?);
        attrs.push(attr(Rta::Oif, &(index as u32).to_ne_bytes())?);
        if let Some(m) = metric {
            attrs.push(attr(Rta::Priority, &m.to_ne_bytes())?);
        }
        let msg = RtmsgBuilder::default()
            .rtm_family(family)
            .rtm_dst_len(dst_len)
            .rtm_src_len(0)
            .rtm_tos(0)
            .rtm_table(RtTable::Main)
            .rtm_protocol(Rtprot::Static)
            .rtm_scope(RtScope::Universe)
            .rtm_type(Rtn::Unicast)
            .rtm_flags(RtmF::empty())
            .rtattrs(attrs)
            .build()
            .map_err(|e| NetlinkError::Request(e.to_string()))?;
        self.request(Rtm::Newroute, NlmF::CREATE | NlmF::REPLACE, msg)
    }
}

fn attr<T: RtaType>(ty: T, bytes: &[u8]) -> Result<Rtattr<T, Buffer>, NetlinkError> {
    RtattrBuilder::default()
        .rta_type(ty)
        .rta_payload(Buffer::from(bytes))
        .build()
        .map_err(|e| NetlinkError::Request(e.to_string()))
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The network address of a prefix (the kernel refuses host bits in a route).
fn network(c: Cidr) -> IpAddr {
    match c.addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(c.prefix)).unwrap_or(0);
            IpAddr::V4((a.to_bits() & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(c.prefix))
                .unwrap_or(0);
            IpAddr::V6((a.to_bits() & mask).into())
        }
    }
}

/// The kernel's index of an interface name, or why there is none.
pub fn if_index(name: &str) -> Result<i32, String> {
    nix::net::if_::if_nametoindex(name)
        .map(|i| i as i32)
        .map_err(|e| format!("interface \"{name}\" not found ({e})"))
}

fn step(action: String, r: Result<(), NetlinkError>) -> Step {
    match r {
        Ok(()) => Step {
            action,
            ok: true,
            error: None,
        },
        Err(e) => Step {
            action,
            ok: false,
            error: Some(e.to_string()),
        },
    }
}

/// Has the kernel announce the interface's addresses when it comes up (gratuitous
/// ARP, unsolicited neighbour advertisement). A support host that already tried to
/// reach the box holds a failed neighbour entry and would otherwise retry only after
/// a second or more. Best effort: the sysctls are missing without IPv6, say.
fn announce_on_up(name: &str) {
    for p in [
        format!("/proc/sys/net/ipv4/conf/{name}/arp_notify"),
        format!("/proc/sys/net/ipv6/conf/{name}/ndisc_notify"),
    ] {
        if let Err(e) = std::fs::write(&p, b"1") {
            log::info!("recovery: cannot set {p}: {e}");
        }
    }
}

/// Brings one configured interface up; `position` orders default-route metrics.
pub fn bring_up(nl: &mut Netlink, iface: &Interface, position: usize) -> InterfaceResult {
    let mut res = InterfaceResult {
        name: iface.name.clone(),
        management: iface.management,
        ok: false,
        addresses: Vec::new(),
        steps: Vec::new(),
    };
    let index = match if_index(&iface.name) {
        Ok(i) => i,
        Err(e) => {
            res.steps.push(Step {
                action: "find interface".into(),
                ok: false,
                error: Some(e),
            });
            return res;
        }
    };
    announce_on_up(&iface.name);
    // Addresses before the link goes up, so the up event announces them.
    for c in iface.cidrs() {
        let s = step(format!("address {c}"), nl.add_address(index, c));
        if s.ok {
            res.addresses.push(c.to_string());
        }
        res.steps.push(s);
    }
    res.steps.push(step("link up".into(), nl.link_up(index)));
    if let Some(gw) = iface.gateway {
        let metric = DEFAULT_ROUTE_METRIC + position as u32;
        res.steps.push(step(
            format!("default via {gw}"),
            nl.add_route(index, None, gw, Some(metric)),
        ));
    }
    for r in &iface.routes {
        let action = format!("route {} via {}", r.to, r.via);
        let result = match r.to.parse::<Cidr>() {
            Ok(to) => nl.add_route(index, Some(to), r.via, None),
            Err(e) => Err(NetlinkError::Request(e)),
        };
        res.steps.push(step(action, result));
    }
    res.ok = res.steps.iter().all(|s| s.ok);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_clears_host_bits() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(network(c), "10.0.0.0".parse::<IpAddr>().unwrap());
        let c: Cidr = "2001:db8::5/32".parse().unwrap();
        assert_eq!(network(c), "2001:db8::".parse::<IpAddr>().unwrap());
        let c: Cidr = "0.0.0.0/0".parse().unwrap();
        assert_eq!(network(c), "0.0.0.0".parse::<IpAddr>().unwrap());
    }
}
