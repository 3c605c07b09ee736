use proptest::prelude::*;

use super::*;

/// The plan of member `me` of `n` with the members of `suspected` routed around.
fn plan(overlay: Overlay, me: usize, n: usize, suspected: &[usize]) -> Plan {
    Plan::new(overlay, 128, n, me, |x| !suspected.contains(&x))
}

fn targets(plan: &Plan, from: Option<usize>) -> Vec<usize> {
    plan.targets(from.map_or(Source::Local, Source::Peer), std::iter::empty())
}

#[test]
fn star_leaves_push_to_the_hub_and_the_hub_relays_to_everyone_else() {
    let hub = plan(Overlay::Star, 0, 4, &[]);
    let leaf = plan(Overlay::Star, 2, 4, &[]);
    assert!(hub.relays() && !leaf.relays());
    assert_eq!(targets(&leaf, None), [0]);
    assert_eq!(targets(&leaf, Some(3)), [0], "news from another leaf goes to the hub");
    assert!(targets(&leaf, Some(0)).is_empty());
    assert_eq!(targets(&hub, Some(2)), [1, 3]);
    assert_eq!(targets(&hub, None), [1, 2, 3]);
    assert_eq!((leaf.upstream(), hub.upstream()), (Some(0), None));
}

#[test]
fn tree_edges_are_symmetric_and_relays_skip_the_source() {
    let n = 10;
    let plans: Vec<Plan> = (0..n).map(|i| plan(Overlay::Tree(3), i, n, &[])).collect();
    let mut edges = 0;
    for (i, p) in plans.iter().enumerate() {
        for q in targets(p, None) {
            assert!(targets(&plans[q], None).contains(&i), "{i} -> {q} is not symmetric");
            assert!(!targets(p, Some(q)).contains(&q));
            edges += 1;
        }
    }
    assert_eq!(edges, 2 * (n - 1), "a tree has N-1 edges");
    assert_eq!(plans[0].upstream(), None, "the root has no parent");
    assert_eq!(plans[7].upstream(), Some(2), "node 7's parent is (7-1)/3");
}

#[test]
fn full_pushes_only_local_updates_and_none_pushes_nothing() {
    let full = plan(Overlay::Full, 1, 3, &[]);
    assert_eq!(targets(&full, None), [0, 2]);
    assert!(targets(&full, Some(0)).is_empty());
    assert!(full.upstream().is_none());
    assert!(targets(&plan(Overlay::None, 1, 3, &[]), None).is_empty());
}

#[test]
fn a_suspected_hub_is_replaced_by_the_first_live_member() {
    let leaf = plan(Overlay::Star, 3, 5, &[0]);
    assert_eq!((leaf.upstream(), leaf.reports_for(1)), (Some(1), vec![0]));
    let stand_in = plan(Overlay::Star, 1, 5, &[0]);
    assert_eq!(stand_in.upstream(), None);
    assert_eq!(targets(&stand_in, Some(3)), [2, 4], "the stand-in relays to every live leaf");
    assert_eq!(stand_in.reports_for(3), [0], "and reports why");
    let deeper = plan(Overlay::Star, 4, 5, &[0, 1]);
    assert_eq!((deeper.upstream(), deeper.reports_for(2)), (Some(2), vec![0, 1]));
}

#[test]
fn a_suspected_relays_children_climb_to_its_parent() {
    let (n, k) = (13, Overlay::Tree(3));
    assert_eq!(plan(k, 4, n, &[1]).upstream(), Some(0));
    let root = plan(k, 0, n, &[1]);
    assert_eq!(targets(&root, None), [2, 3, 4, 5, 6]);
    assert_eq!((root.reports_for(4), root.reports_for(2)), (vec![1], vec![]), "orphans learn why they moved");
    assert_eq!(plan(k, 9, n, &[]).upstream(), Some(2), "nodes under other relays keep their parents");
    assert_eq!(plan(k, 9, n, &[1]).upstream(), Some(2));
    assert_eq!(plan(k, 2, n, &[0]).upstream(), Some(1), "the relays climb past a suspected root to node 1");
}

#[test]
fn auto_is_a_star_up_to_the_limit_and_a_square_root_tree_above() {
    let star = Plan::new(Overlay::Auto, 128, 128, 0, |_| true);
    assert_eq!(targets(&star, None).len(), 127);
    let root = Plan::new(Overlay::Auto, 128, 1000, 0, |_| true);
    assert_eq!(targets(&root, None), (1..=32).collect::<Vec<_>>(), "32 × 32 ≥ 1000");
    let relay = Plan::new(Overlay::Auto, 128, 1000, 31, |_| true);
    assert_eq!(targets(&relay, None).len(), 1 + 7, "the last relay has the 7 members left: 993..999");
    assert_eq!(ceil_sqrt(1000), 32);
    assert_eq!((ceil_sqrt(1), ceil_sqrt(4), ceil_sqrt(5)), (1, 2, 3));
}

#[test]
fn reports_are_adopted_only_when_they_concern_this_nodes_routing() {
    let leaf = plan(Overlay::Star, 3, 6, &[]);
    assert_eq!(leaf.concerning(1, &[0]), [0], "the hub is every leaf's ancestor");
    assert_eq!(leaf.concerning(2, &[0, 1]), [0, 1], "stand-ins ahead of the reporter go with the root");
    assert!(leaf.concerning(1, &[4]).is_empty(), "another leaf's health is not this leaf's business");
    let root = plan(Overlay::Tree(2), 0, 7, &[]);
    assert_eq!(root.concerning(3, &[1]), [1], "an orphan climbing over its parent explains itself");
    assert!(root.concerning(5, &[1]).is_empty());
    assert!(plan(Overlay::Full, 0, 3, &[]).concerning(1, &[2]).is_empty());
}

proptest! {
    /// Whatever the suspicions, if every live node holds the same ones, their plans form one tree: each live
    /// node but the root has a live parent that lists it as a child, and following parents reaches the root.
    #[test]
    fn nodes_that_agree_on_suspicions_form_one_tree(
        n in 1usize..60,
        k in prop_oneof![Just(0usize), 1usize..6],
        suspected in prop::collection::btree_set(0usize..60, 0..20),
    ) {
        let overlay = if k == 0 { Overlay::Star } else { Overlay::Tree(k) };
        let suspected: Vec<usize> = suspected.into_iter().filter(|&s| s < n).collect();
        let live: Vec<usize> = (0..n).filter(|x| !suspected.contains(x)).collect();
        prop_assume!(!live.is_empty());
        let plans: Vec<Plan> = (0..n).map(|x| plan(overlay, x, n, &suspected)).collect();
        let root = live[0];
        for &x in &live {
            match plans[x].upstream() {
                None => prop_assert_eq!(x, root),
                Some(p) => {
                    prop_assert!(live.contains(&p), "{} has suspected parent {}", x, p);
                    prop_assert!(plans[p].children.contains(&x), "{} is not a child of its parent {}", x, p);
                }
            }
            let (mut at, mut hops) = (x, 0);
            while let Some(p) = plans[at].upstream() {
                at = p;
                hops += 1;
                prop_assert!(hops <= n, "a cycle through {}", x);
            }
            prop_assert_eq!(at, root);
        }
    }
}
