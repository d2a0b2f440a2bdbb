//! The README's annotated scenario example is a real, valid scenario.

#[test]
fn the_readme_scenario_example_loads_and_runs() {
    let readme = std::fs::read_to_string("README.md").expect("README.md at the crate root");
    let start = readme
        .find("```ron\n")
        .expect("a ```ron block in the README")
        + 7;
    let end = start + readme[start..].find("```").expect("the block ends");
    let text = &readme[start..end];
    let mut l = distsim::registry::load(text, "README.md", &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    l.sim.run_until(l.info.duration);
    assert!(l.sim.trace().len() > 100);
    assert_eq!(l.info.names.len(), 5);
}
