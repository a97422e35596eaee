-- Demo data for the food-delivery domain. Prices in EUR cents. Seeding is not a command, so it
-- appends no events: the log starts at the first change a user makes.
INSERT INTO restaurants (id, name, cuisine, version, last_modified, last_modified_by, deleted) VALUES
    ('pho-corner', 'Pho Corner', 'Vietnamese', 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('napoli', 'Napoli Express', 'Pizza', 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('sushi-sora', 'Sushi Sora', 'Japanese', 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('taqueria-luz', 'Taquería Luz', 'Mexican', 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('curry-house', 'Curry House', 'Indian', 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('green-bowl', 'Green Bowl', 'Salads', 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('burger-barn', 'Burger Barn', 'Burgers', 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('dim-sum-den', 'Dim Sum Den', 'Cantonese', 1, '2026-01-01T00:00:00Z', 'seed', 0);

INSERT INTO menu_items (id, restaurant_id, position, name, price_cents, available, version, last_modified, last_modified_by, deleted) VALUES
    ('pho-bo', 'pho-corner', 1, 'Phở bò', 1290, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('banh-mi', 'pho-corner', 2, 'Bánh mì', 810, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('goi-cuon', 'pho-corner', 3, 'Gỏi cuốn', 650, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('ca-phe-sua-da', 'pho-corner', 4, 'Cà phê sữa đá', 390, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('margherita', 'napoli', 1, 'Pizza Margherita', 950, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('diavola', 'napoli', 2, 'Pizza Diavola', 1150, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('quattro-formaggi', 'napoli', 3, 'Pizza Quattro Formaggi', 1250, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('tiramisu', 'napoli', 4, 'Tiramisù', 550, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('salmon-nigiri', 'sushi-sora', 1, 'Salmon nigiri (2)', 480, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('maki-set', 'sushi-sora', 2, 'Maki set', 1390, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('miso-soup', 'sushi-sora', 3, 'Miso soup', 350, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('tacos-al-pastor', 'taqueria-luz', 1, 'Tacos al pastor', 990, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('quesadilla', 'taqueria-luz', 2, 'Quesadilla', 850, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('horchata', 'taqueria-luz', 3, 'Horchata', 320, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('butter-chicken', 'curry-house', 1, 'Butter chicken', 1350, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('chana-masala', 'curry-house', 2, 'Chana masala', 1090, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('garlic-naan', 'curry-house', 3, 'Garlic naan', 350, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('caesar-bowl', 'green-bowl', 1, 'Caesar bowl', 1050, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('falafel-bowl', 'green-bowl', 2, 'Falafel bowl', 1100, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('classic-burger', 'burger-barn', 1, 'Classic burger', 1190, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('veggie-burger', 'burger-barn', 2, 'Veggie burger', 1150, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('fries', 'burger-barn', 3, 'Fries', 390, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('har-gow', 'dim-sum-den', 1, 'Har gow (4)', 620, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('siu-mai', 'dim-sum-den', 2, 'Siu mai (4)', 590, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0),
    ('char-siu-bao', 'dim-sum-den', 3, 'Char siu bao (3)', 560, 1, 1, '2026-01-01T00:00:00Z', 'seed', 0);
