//! The left panel: bundled scenarios, open and save.

#[allow(unused_imports)]
use super::*;

pub(super) fn browser(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    // One scroll area for the whole panel, so Open and Save stay reachable under a long
    // description.
    egui::ScrollArea::vertical()
        .id_salt("browser-panel")
        .show(ui, |ui| browser_contents(ui, s, state));
}

pub(super) fn save_session(s: &Session, state: &mut UiState) {
    let result = s
        .save()
        .map_err(|e| e.to_string())
        .and_then(|text| std::fs::write(&state.save_path, text).map_err(|e| e.to_string()));
    match result {
        Ok(()) => state.status = format!("saved {} ({} actions)", state.save_path, s.actions.len()),
        Err(e) => state.error = Some(format!("cannot save: {e}")),
    }
}

pub(super) fn browser_contents(ui: &mut egui::Ui, s: &mut Session, state: &mut UiState) {
    ui.heading("Scenario");
    ui.label(RichText::new(&s.info.description).size(15.0));
    ui.label(
        RichText::new(format!(
            "{} · {} nodes · seed {} · {}",
            s.info.protocol,
            s.info.names.len(),
            s.seed,
            s.info.file
        ))
        .small()
        .color(style::TEXT_DIM),
    );
    ui.separator();
    ui.heading("Bundled scenarios");
    let mut open: Option<(&str, &str)> = None;
    egui::ScrollArea::vertical()
        .id_salt("browser")
        .max_height(320.0)
        .show(ui, |ui| {
            let mut protocols: Vec<&str> = Vec::new();
            for (p, _) in crate::bundled::BUNDLED {
                let proto = p.split('/').nth(1).unwrap_or("");
                if !protocols.contains(&proto) {
                    protocols.push(proto);
                }
            }
            for proto in protocols {
                egui::CollapsingHeader::new(RichText::new(proto).strong())
                    .default_open(proto == s.info.protocol)
                    .show(ui, |ui| {
                        for (path, text) in crate::bundled::BUNDLED
                            .iter()
                            .filter(|(p, _)| p.split('/').nth(1) == Some(proto))
                        {
                            let head = crate::scenario::peek_protocol(text, path);
                            let (title, desc) = head
                                .map(|h| (h.title, h.description))
                                .unwrap_or_else(|e| (path.to_string(), e.to_string()));
                            let current = s.info.file == *path;
                            if ui
                                .selectable_label(current, title)
                                .on_hover_text(desc)
                                .clicked()
                            {
                                open = Some((path, text));
                            }
                        }
                    });
            }
        });
    if let Some((path, text)) = open {
        open_into(s, state, text, path);
    }
    ui.separator();
    ui.label("Open a file (or drop a .ron on the window)");
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut state.open_path)
                .desired_width(180.0)
                .hint_text("path/to/file.ron"),
        );
        if ui.button("Open").clicked() {
            match crate::registry::read_scenario(&state.open_path) {
                Ok(text) => {
                    let p = state.open_path.clone();
                    open_into(s, state, &text, &p);
                }
                Err(e) => state.error = Some(e.to_string()),
            }
        }
    });
    ui.label("Save this session as a scenario");
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut state.save_path).desired_width(180.0));
        if ui
            .button("Save")
            .on_hover_text("Writes the scenario with your actions; it replays exactly (Ctrl+S)")
            .clicked()
        {
            save_session(s, state);
        }
    });
    if !state.status.is_empty() {
        ui.label(RichText::new(&state.status).small().color(style::TEXT_DIM));
    }
    ui.checkbox(
        &mut state.pause_at_points,
        "pause at presenter pause points",
    );
}
