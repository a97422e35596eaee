//! Demo catalogue; the BFF replaces it.

pub struct Restaurant {
    pub id: &'static str,
    pub name: &'static str,
    pub cuisine: &'static str,
    pub eta_minutes: u32,
    pub menu: &'static [MenuItem],
}

pub struct MenuItem {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub price_cents: u32,
}

pub const RESTAURANTS: &[Restaurant] = &[
    Restaurant {
        id: "pho-corner",
        name: "Pho Corner",
        cuisine: "Vietnamese",
        eta_minutes: 25,
        menu: &[
            MenuItem {
                id: "pho-bo",
                name: "Pho bo",
                description: "Beef noodle soup, 12-hour broth",
                price_cents: 1250,
            },
            MenuItem {
                id: "goi-cuon",
                name: "Goi cuon",
                description: "Fresh spring rolls, peanut sauce",
                price_cents: 690,
            },
            MenuItem {
                id: "banh-mi",
                name: "Banh mi",
                description: "Lemongrass pork, pickles, coriander",
                price_cents: 890,
            },
        ],
    },
    Restaurant {
        id: "napoli",
        name: "Napoli Express",
        cuisine: "Pizza",
        eta_minutes: 30,
        menu: &[
            MenuItem {
                id: "margherita",
                name: "Margherita",
                description: "San Marzano, fior di latte, basil",
                price_cents: 1100,
            },
            MenuItem {
                id: "diavola",
                name: "Diavola",
                description: "Spicy salami, chilli oil",
                price_cents: 1350,
            },
        ],
    },
    Restaurant {
        id: "green-bowl",
        name: "Green Bowl",
        cuisine: "Salads",
        eta_minutes: 15,
        menu: &[
            MenuItem {
                id: "falafel-bowl",
                name: "Falafel bowl",
                description: "Hummus, tabbouleh, tahini",
                price_cents: 1050,
            },
            MenuItem {
                id: "poke",
                name: "Salmon poke",
                description: "Sushi rice, edamame, ponzu",
                price_cents: 1390,
            },
        ],
    },
];

pub fn find(id: &str) -> Option<&'static Restaurant> {
    RESTAURANTS.iter().find(|r| r.id == id)
}

pub fn price(cents: u32) -> String {
    format!("€{}.{:02}", cents / 100, cents % 100)
}
