//! The words of the user's pages in English, German and French.
//!
//! Concur sends the user's profile language as `language_code` (`de`, `fr-CA`, `en_GB` in
//! older tenants); the first two letters choose the catalog, anything else falls back to
//! English. Templates receive the catalog as `t` and write `{{ t.done }}`; placeholders
//! such as `{n}` are filled with minijinja's `replace` filter.

use std::collections::BTreeMap;
use std::sync::LazyLock;

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
    Fr,
}

impl Lang {
    /// The catalog for a Concur `language_code`; English when unknown.
    pub fn from_code(code: &str) -> Self {
        let primary = code.get(..2).unwrap_or_default().to_ascii_lowercase();
        match primary.as_str() {
            "de" => Lang::De,
            "fr" => Lang::Fr,
            _ => Lang::En,
        }
    }

    /// The `lang` attribute of the page.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
        }
    }

    /// The messages of this language, by key.
    pub fn catalog(self) -> &'static Catalog {
        static CATALOGS: LazyLock<[Catalog; 3]> = LazyLock::new(|| {
            let build = |column: usize| {
                MESSAGES
                    .iter()
                    .map(|row| (row[0], row[column]))
                    .collect::<Catalog>()
            };
            [build(1), build(2), build(3)]
        });
        &CATALOGS[self as usize]
    }

    /// One message; `?` for an unknown key (a bug: debug builds, and so the tests, panic).
    pub fn text(self, key: &str) -> &'static str {
        let text = self.catalog().get(key).copied();
        debug_assert!(text.is_some(), "unknown message key {key}");
        text.unwrap_or("?")
    }

    /// The language a raw launch query asks for (`language_code`, any name case); English
    /// when absent (v1 launches never send one). Used before the launch is verified, only
    /// to choose the words of a refusal.
    pub fn of_query(raw_query: &str) -> Self {
        form_urlencoded::parse(raw_query.as_bytes())
            .find(|(name, _)| name.eq_ignore_ascii_case("language_code"))
            .map_or(Lang::En, |(_, value)| Lang::from_code(&value))
    }

    /// Decimal comma for German and French, as users read amounts.
    pub fn amount(self, amount: &str) -> String {
        let Ok(value) = amount.trim().parse::<f64>() else {
            return amount.to_owned();
        };
        let text = format!("{value:.2}");
        match self {
            Lang::En => text,
            Lang::De | Lang::Fr => text.replace('.', ","),
        }
    }
}

/// Message key → text.
pub type Catalog = BTreeMap<&'static str, &'static str>;

/// key, English, German, French.
const MESSAGES: &[[&str; 4]] = &[
    [
        "title_list",
        "Choose a value",
        "Wert auswählen",
        "Choisir une valeur",
    ],
    [
        "title_text",
        "Enter a value",
        "Wert eingeben",
        "Saisir une valeur",
    ],
    ["kind_HEADER", "Report", "Bericht", "Note de frais"],
    ["kind_ENTRY", "Expense", "Ausgabe", "Dépense"],
    ["kind_ALLOCATION", "Allocation", "Zuordnung", "Répartition"],
    ["report", "Report", "Bericht", "Note de frais"],
    ["kind_REQUEST_HEADER", "Request", "Antrag", "Demande"],
    [
        "kind_REQUEST_ENTRY",
        "Expected expense",
        "Erwartete Ausgabe",
        "Dépense prévue",
    ],
    [
        "kind_REQUEST_ALLOCATION",
        "Allocation",
        "Zuordnung",
        "Répartition",
    ],
    ["request", "Request", "Antrag", "Demande"],
    ["dates", "Dates", "Zeitraum", "Dates"],
    [
        "expense_type",
        "Expense type",
        "Ausgabenart",
        "Type de dépense",
    ],
    ["amount", "Amount", "Betrag", "Montant"],
    ["date", "Date", "Datum", "Date"],
    ["vendor", "Vendor", "Anbieter", "Fournisseur"],
    ["purpose", "Purpose", "Zweck", "Objet"],
    [
        "current_value",
        "Current value",
        "Aktueller Wert",
        "Valeur actuelle",
    ],
    ["empty_value", "(empty)", "(leer)", "(vide)"],
    [
        "search_label",
        "Search by code or name",
        "Nach Code oder Name suchen",
        "Rechercher par code ou nom",
    ],
    ["search_button", "Search", "Suchen", "Rechercher"],
    ["choices_legend", "Values", "Werte", "Valeurs"],
    [
        "no_results",
        "No value matches this search.",
        "Kein Wert passt zu dieser Suche.",
        "Aucune valeur ne correspond à cette recherche.",
    ],
    [
        "truncated",
        "Showing the first {n} values. Refine the search to see others.",
        "Die ersten {n} Werte werden angezeigt. Verfeinern Sie die Suche, um weitere zu sehen.",
        "Les {n} premières valeurs sont affichées. Affinez la recherche pour voir les autres.",
    ],
    ["value_label", "Value", "Wert", "Valeur"],
    [
        "value_hint",
        "At most {n} characters.",
        "Höchstens {n} Zeichen.",
        "{n} caractères au maximum.",
    ],
    ["done", "Done", "Fertig", "Terminé"],
    ["cancel", "Cancel", "Abbrechen", "Annuler"],
    ["retry", "Retry", "Erneut versuchen", "Réessayer"],
    ["saved_title", "Saved", "Gespeichert", "Enregistré"],
    [
        "saving_title",
        "Saving…",
        "Wird gespeichert…",
        "Enregistrement…",
    ],
    [
        "saving_message",
        "Concur is taking longer than usual. Your choice is being saved; this page shows the result as soon as Concur answers.",
        "Concur braucht länger als sonst. Ihre Auswahl wird gespeichert; diese Seite zeigt das Ergebnis, sobald Concur antwortet.",
        "Concur met plus de temps que d'habitude. Votre choix est en cours d'enregistrement ; cette page affiche le résultat dès que Concur répond.",
    ],
    [
        "saving_hint",
        "You do not need to do anything. If this page does not change, reload it.",
        "Sie müssen nichts tun. Ändert sich diese Seite nicht, laden Sie sie neu.",
        "Vous n'avez rien à faire. Si cette page ne change pas, rechargez-la.",
    ],
    [
        "write_uncertain",
        "Concur did not confirm whether the value was saved. Your choice is kept: Retry checks Concur first and never saves it twice.",
        "Concur hat nicht bestätigt, ob der Wert gespeichert wurde. Ihre Auswahl bleibt erhalten: Erneut versuchen prüft zuerst Concur und speichert nie doppelt.",
        "Concur n'a pas confirmé l'enregistrement de la valeur. Votre choix est conservé : Réessayer vérifie d'abord Concur et n'enregistre jamais deux fois.",
    ],
    [
        "saved_message",
        "{value} was saved in Concur.",
        "{value} wurde in Concur gespeichert.",
        "{value} a été enregistré dans Concur.",
    ],
    ["cancelled_title", "Cancelled", "Abgebrochen", "Annulé"],
    [
        "cancelled_message",
        "Nothing was changed.",
        "Es wurde nichts geändert.",
        "Rien n'a été modifié.",
    ],
    [
        "close_hint",
        "You can close this window.",
        "Sie können dieses Fenster schließen.",
        "Vous pouvez fermer cette fenêtre.",
    ],
    [
        "error_empty",
        "Choose or enter a value first.",
        "Wählen Sie zuerst einen Wert aus oder geben Sie einen ein.",
        "Choisissez ou saisissez d'abord une valeur.",
    ],
    [
        "error_too_long",
        "The value is too long: at most {n} characters.",
        "Der Wert ist zu lang: höchstens {n} Zeichen.",
        "La valeur est trop longue : {n} caractères au maximum.",
    ],
    [
        "error_control",
        "The value contains characters that cannot be saved.",
        "Der Wert enthält Zeichen, die nicht gespeichert werden können.",
        "La valeur contient des caractères qui ne peuvent pas être enregistrés.",
    ],
    [
        "error_not_allowed",
        "This value is not available for this item. Choose another one.",
        "Dieser Wert ist für diesen Eintrag nicht verfügbar. Wählen Sie einen anderen.",
        "Cette valeur n'est pas disponible pour cet élément. Choisissez-en une autre.",
    ],
    [
        "write_unavailable",
        "Concur is not answering right now, so nothing was saved. Your choice is kept: retry in a moment.",
        "Concur antwortet gerade nicht, es wurde nichts gespeichert. Ihre Auswahl bleibt erhalten: Versuchen Sie es gleich noch einmal.",
        "Concur ne répond pas pour le moment, rien n'a été enregistré. Votre choix est conservé : réessayez dans un instant.",
    ],
    [
        "write_forbidden",
        "Concur did not allow the connector to save this value. Your choice is kept; if retrying does not help, ask your Concur administrator.",
        "Concur hat dem Connector das Speichern dieses Werts nicht erlaubt. Ihre Auswahl bleibt erhalten; hilft ein erneuter Versuch nicht, wenden Sie sich an Ihre Concur-Administration.",
        "Concur n'a pas autorisé le connecteur à enregistrer cette valeur. Votre choix est conservé ; si une nouvelle tentative n'aide pas, contactez votre administrateur Concur.",
    ],
    [
        "write_validation",
        "Concur did not accept the value:",
        "Concur hat den Wert nicht angenommen:",
        "Concur n'a pas accepté la valeur :",
    ],
    [
        "write_other",
        "Concur could not save the value. Your choice is kept: retry.",
        "Concur konnte den Wert nicht speichern. Ihre Auswahl bleibt erhalten: Versuchen Sie es erneut.",
        "Concur n'a pas pu enregistrer la valeur. Votre choix est conservé : réessayez.",
    ],
    [
        "write_in_progress",
        "Your choice is already being saved. Wait a moment, then retry.",
        "Ihre Auswahl wird bereits gespeichert. Warten Sie einen Moment und versuchen Sie es dann erneut.",
        "Votre choix est déjà en cours d'enregistrement. Patientez un instant, puis réessayez.",
    ],
    [
        "item_unavailable",
        "Concur is not answering right now. Reload this window in a moment.",
        "Concur antwortet gerade nicht. Laden Sie dieses Fenster gleich neu.",
        "Concur ne répond pas pour le moment. Rechargez cette fenêtre dans un instant.",
    ],
    [
        "item_forbidden",
        "Concur did not allow the connector to read this item.",
        "Concur hat dem Connector das Lesen dieses Eintrags nicht erlaubt.",
        "Concur n'a pas autorisé le connecteur à lire cet élément.",
    ],
    [
        "item_other",
        "Concur could not return this item.",
        "Concur konnte diesen Eintrag nicht liefern.",
        "Concur n'a pas pu renvoyer cet élément.",
    ],
    [
        "item_title",
        "The item could not be read",
        "Der Eintrag konnte nicht gelesen werden",
        "L'élément n'a pas pu être lu",
    ],
    [
        "reload_hint",
        "Reload this window, or close it and click the field in Concur again.",
        "Laden Sie dieses Fenster neu, oder schließen Sie es und klicken Sie erneut auf das Feld in Concur.",
        "Rechargez cette fenêtre, ou fermez-la et cliquez à nouveau sur le champ dans Concur.",
    ],
    [
        "lookup_timeout",
        "The list of values did not answer in time. Search again in a moment.",
        "Die Werteliste hat nicht rechtzeitig geantwortet. Suchen Sie gleich noch einmal.",
        "La liste des valeurs n'a pas répondu à temps. Relancez la recherche dans un instant.",
    ],
    [
        "lookup_unavailable",
        "The list of values is not available right now. Try again in a moment.",
        "Die Werteliste ist gerade nicht verfügbar. Versuchen Sie es gleich noch einmal.",
        "La liste des valeurs n'est pas disponible pour le moment. Réessayez dans un instant.",
    ],
    [
        "lookup_bad_response",
        "The list of values sent an answer the connector cannot read. Ask your administrator.",
        "Die Werteliste hat eine Antwort gesendet, die der Connector nicht lesen kann. Wenden Sie sich an Ihre Administration.",
        "La liste des valeurs a envoyé une réponse illisible pour le connecteur. Contactez votre administrateur.",
    ],
    [
        "lookup_too_large",
        "The list of values sent more than the connector accepts. Search for something more specific, or ask your administrator.",
        "Die Werteliste hat mehr gesendet, als der Connector annimmt. Suchen Sie genauer, oder wenden Sie sich an Ihre Administration.",
        "La liste des valeurs a envoyé plus que ce que le connecteur accepte. Précisez la recherche ou contactez votre administrateur.",
    ],
    [
        "search_rate_limited",
        "Too many searches in a short time. Wait a moment, then search again.",
        "Zu viele Suchen in kurzer Zeit. Warten Sie einen Moment und suchen Sie dann erneut.",
        "Trop de recherches en peu de temps. Patientez un instant, puis relancez la recherche.",
    ],
    [
        "not_configured",
        "This field is not set up for saving yet. Ask your Concur administrator.",
        "Dieses Feld ist noch nicht zum Speichern eingerichtet. Wenden Sie sich an Ihre Concur-Administration.",
        "Ce champ n'est pas encore configuré pour l'enregistrement. Contactez votre administrateur Concur.",
    ],
    [
        "not_configured_title",
        "Saving is not set up",
        "Speichern ist nicht eingerichtet",
        "L'enregistrement n'est pas configuré",
    ],
    [
        "expired_title",
        "This session has expired",
        "Diese Sitzung ist abgelaufen",
        "Cette session a expiré",
    ],
    [
        "expired_message",
        "This window was open too long, or it was not opened from Concur.",
        "Dieses Fenster war zu lange geöffnet oder wurde nicht aus Concur geöffnet.",
        "Cette fenêtre est restée ouverte trop longtemps, ou elle n'a pas été ouverte depuis Concur.",
    ],
    [
        "click_again",
        "Close this window and click the field in Concur again.",
        "Schließen Sie dieses Fenster und klicken Sie erneut auf das Feld in Concur.",
        "Fermez cette fenêtre et cliquez à nouveau sur le champ dans Concur.",
    ],
    [
        "form_expired_title",
        "This form is out of date",
        "Dieses Formular ist veraltet",
        "Ce formulaire n'est plus à jour",
    ],
    [
        "form_expired_message",
        "The form did not come from this window's session, so nothing was saved.",
        "Das Formular stammt nicht aus der Sitzung dieses Fensters, es wurde nichts gespeichert.",
        "Le formulaire ne provient pas de la session de cette fenêtre, rien n'a été enregistré.",
    ],
    [
        "bad_form_title",
        "The form could not be read",
        "Das Formular konnte nicht gelesen werden",
        "Le formulaire n'a pas pu être lu",
    ],
    [
        "unavailable_title",
        "Temporarily unavailable",
        "Vorübergehend nicht verfügbar",
        "Temporairement indisponible",
    ],
    [
        "unavailable_message",
        "The connector cannot process this right now.",
        "Der Connector kann das gerade nicht verarbeiten.",
        "Le connecteur ne peut pas traiter cela pour le moment.",
    ],
    [
        "launch_used_title",
        "This link was already used",
        "Dieser Link wurde bereits verwendet",
        "Ce lien a déjà été utilisé",
    ],
    [
        "launch_used_message",
        "For your security, each launch from Concur works only once.",
        "Zu Ihrer Sicherheit funktioniert jeder Aufruf aus Concur nur einmal.",
        "Pour votre sécurité, chaque lancement depuis Concur ne fonctionne qu'une seule fois.",
    ],
    [
        "wait_and_click_again",
        "Close this window, wait a moment and click the field in Concur again.",
        "Schließen Sie dieses Fenster, warten Sie einen Moment und klicken Sie erneut auf das Feld in Concur.",
        "Fermez cette fenêtre, patientez un instant et cliquez à nouveau sur le champ dans Concur.",
    ],
    [
        "not_allowed_title",
        "This launch is not allowed",
        "Dieser Aufruf ist nicht erlaubt",
        "Ce lancement n'est pas autorisé",
    ],
    [
        "not_your_launch",
        "Concur did not confirm that this launch belongs to the signed-in user.",
        "Concur hat nicht bestätigt, dass dieser Aufruf zum angemeldeten Benutzer gehört.",
        "Concur n'a pas confirmé que ce lancement appartient à l'utilisateur connecté.",
    ],
    [
        "concur_down_title",
        "Concur is not answering",
        "Concur antwortet nicht",
        "Concur ne répond pas",
    ],
    [
        "concur_down_message",
        "The connector could not reach Concur to confirm this launch.",
        "Der Connector konnte Concur nicht erreichen, um diesen Aufruf zu bestätigen.",
        "Le connecteur n'a pas pu joindre Concur pour confirmer ce lancement.",
    ],
    [
        "refused_title",
        "Concur refused this launch",
        "Concur hat diesen Aufruf abgelehnt",
        "Concur a refusé ce lancement",
    ],
    [
        "refused_message",
        "Concur did not accept the launch's one-time authorization.",
        "Concur hat die einmalige Autorisierung dieses Aufrufs nicht angenommen.",
        "Concur n'a pas accepté l'autorisation à usage unique de ce lancement.",
    ],
    [
        "refused_hint",
        "Close this window and click the field in Concur again. If it keeps happening, ask your Concur administrator to check the connector's OAuth client.",
        "Schließen Sie dieses Fenster und klicken Sie erneut auf das Feld in Concur. Passiert das wiederholt, bitten Sie Ihre Concur-Administration, den OAuth-Client des Connectors zu prüfen.",
        "Fermez cette fenêtre et cliquez à nouveau sur le champ dans Concur. Si cela se reproduit, demandez à votre administrateur Concur de vérifier le client OAuth du connecteur.",
    ],
    [
        "malformed_title",
        "This launch link is incomplete",
        "Dieser Aufruf-Link ist unvollständig",
        "Ce lien de lancement est incomplet",
    ],
    [
        "malformed_message",
        "The address that opened this window is not a valid launch from Concur.",
        "Die Adresse, die dieses Fenster geöffnet hat, ist kein gültiger Aufruf aus Concur.",
        "L'adresse qui a ouvert cette fenêtre n'est pas un lancement valide depuis Concur.",
    ],
    [
        "unverified_title",
        "This launch could not be verified",
        "Dieser Aufruf konnte nicht überprüft werden",
        "Ce lancement n'a pas pu être vérifié",
    ],
    [
        "unverified_message",
        "The launch did not carry a valid signature from Concur.",
        "Der Aufruf trug keine gültige Signatur von Concur.",
        "Le lancement ne portait pas de signature valide de Concur.",
    ],
    [
        "unverified_hint",
        "Close this window and try again. If it keeps happening, ask your Concur administrator to check the connector's registration.",
        "Schließen Sie dieses Fenster und versuchen Sie es erneut. Passiert das wiederholt, bitten Sie Ihre Concur-Administration, die Registrierung des Connectors zu prüfen.",
        "Fermez cette fenêtre et réessayez. Si cela se reproduit, demandez à votre administrateur Concur de vérifier l'enregistrement du connecteur.",
    ],
    [
        "host_message",
        "The launch refers to an address this connector does not work with.",
        "Der Aufruf verweist auf eine Adresse, mit der dieser Connector nicht arbeitet.",
        "Le lancement renvoie à une adresse avec laquelle ce connecteur ne fonctionne pas.",
    ],
    [
        "company_message",
        "This connector does not work for your company.",
        "Dieser Connector arbeitet nicht für Ihr Unternehmen.",
        "Ce connecteur ne fonctionne pas pour votre entreprise.",
    ],
    [
        "no_auth_code_message",
        "The launch did not carry Concur's one-time authorization for your user.",
        "Der Aufruf enthielt keine einmalige Autorisierung von Concur für Ihren Benutzer.",
        "Le lancement ne contenait pas l'autorisation à usage unique de Concur pour votre utilisateur.",
    ],
    [
        "ask_admin_config",
        "Ask your Concur administrator to check the connector's configuration.",
        "Bitten Sie Ihre Concur-Administration, die Konfiguration des Connectors zu prüfen.",
        "Demandez à votre administrateur Concur de vérifier la configuration du connecteur.",
    ],
    [
        "launch_unavailable_message",
        "The connector cannot process launches right now.",
        "Der Connector kann gerade keine Aufrufe verarbeiten.",
        "Le connecteur ne peut pas traiter de lancements pour le moment.",
    ],
    [
        "about_launch",
        "About this launch",
        "Über diesen Aufruf",
        "À propos de ce lancement",
    ],
    ["company", "Company", "Firma", "Société"],
    ["user", "User", "Benutzer", "Utilisateur"],
    [
        "report_owner",
        "Report owner",
        "Berichtsinhaber",
        "Propriétaire de la note",
    ],
    ["field", "Field", "Feld", "Champ"],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_translated_and_keys_are_unique() {
        let mut keys = std::collections::BTreeSet::new();
        for row in MESSAGES {
            assert!(keys.insert(row[0]), "duplicate key {}", row[0]);
            for text in &row[1..] {
                assert!(
                    !text.trim().is_empty(),
                    "{} has an empty translation",
                    row[0]
                );
            }
            let placeholders = |t: &str| t.matches('{').count();
            assert_eq!(placeholders(row[1]), placeholders(row[2]), "{}", row[0]);
            assert_eq!(placeholders(row[1]), placeholders(row[3]), "{}", row[0]);
        }
        assert_eq!(Lang::De.catalog().len(), MESSAGES.len());
    }

    #[test]
    fn language_codes_choose_the_catalog_with_english_as_fallback() {
        for (code, lang) in [
            ("de", Lang::De),
            ("de-CH", Lang::De),
            ("fr_CA", Lang::Fr),
            ("FR", Lang::Fr),
            ("en-GB", Lang::En),
            ("ja", Lang::En),
            ("", Lang::En),
            ("ü", Lang::En),
        ] {
            assert_eq!(Lang::from_code(code), lang, "{code}");
        }
        assert_eq!(Lang::De.text("done"), "Fertig");
        assert_eq!(Lang::of_query("a=1&Language_Code=fr-CA&b=2"), Lang::Fr);
        assert_eq!(Lang::of_query("language_code=de%2DDE"), Lang::De);
        assert_eq!(Lang::of_query("nonce=x"), Lang::En);
        assert_eq!(Lang::of_query("%zz&&="), Lang::En);
        assert_eq!(Lang::Fr.text("cancel"), "Annuler");
    }

    #[test]
    fn amounts_get_two_decimals_and_the_local_separator() {
        assert_eq!(Lang::En.amount("25.0"), "25.00");
        assert_eq!(Lang::De.amount("1234.5"), "1234,50");
        assert_eq!(Lang::Fr.amount("25.00000000"), "25,00");
        assert_eq!(Lang::En.amount("n/a"), "n/a");
    }
}
