/**
 * The rows of the committed fixtures (`fixtures/`), shaped like the corpora the product reads: FineWeb
 * (text, id, dump, url, date, file_path, language, language_score, token_count) and LMSYS-Chat-1M
 * (conversation_id, model, conversation: list<struct<content, role>>, turn, language). Tests compare what the
 * readers yield against these; `make-fixtures.ts` writes the files from them.
 */

export interface FineWebRow {
  readonly text: string;
  readonly id: string;
  readonly dump: string;
  readonly url: string;
  readonly date: string;
  readonly file_path: string;
  readonly language: string;
  readonly language_score: number;
  readonly token_count: bigint;
}

export interface LmsysRow {
  readonly conversation_id: string;
  readonly model: string;
  readonly conversation: { content: string; role: string }[];
  readonly turn: bigint;
  readonly language: string;
}

const texts = [
  'The river rose for three days after the storm, and the ferry stopped running. Farmers on the east bank moved their cattle to the ridge.',
  'To make bread, mix 500 g of flour, 350 g of water, 10 g of salt and 5 g of yeast. Knead for ten minutes and bake at 230 degrees.',
  'Le café du coin ouvre à sept heures ; les habitués prennent un crème et lisent le journal près de la fenêtre.',
  'def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n',
  'Tokyo (東京) is the capital of Japan. Its metropolitan area is home to about 37 million people. 🚆 Trains run every few minutes.',
  'Quarterly revenue grew 12% year over year, driven by subscriptions; operating margin narrowed to 18.4% on higher hosting costs.',
  'Water boils at 100 °C at sea level, but at the top of Everest it boils at about 70 °C because the air pressure is lower.',
];

/**
 * A long document (about 150 kB) whose text repeats with variations: it spans several 64 KiB LZ4 blocks, and
 * with linked blocks later blocks copy from earlier ones, which is what the LZ4 fixture is there to exercise.
 */
export function longDocument(): string {
  const subjects = [
    'The committee',
    'A local farmer',
    'The old mill',
    'Our reporter',
    'The city council',
    'A visiting scholar',
  ];
  const verbs = ['discussed', 'repaired', 'described', 'measured', 'questioned', 'photographed'];
  const objects = [
    'the flood defences',
    'the river bank',
    'the harvest figures',
    'the railway timetable',
    'the school budget',
  ];
  const lines: string[] = [];
  for (let i = 0; lines.join('\n').length < 150_000; i++) {
    lines.push(
      `${i}. ${subjects[i % subjects.length]} ${verbs[(i * 7) % verbs.length]} ${objects[(i * 11) % objects.length]} on day ${(i * 37) % 365}.`,
    );
  }
  return lines.join('\n');
}

const uuid = (i: number) =>
  `<urn:uuid:${(0x1f3a5c70 + i * 0x1111).toString(16)}-7c2e-4b9a-9d2f-${(0xa1b2c3d40000 + i).toString(16)}>`;

export function fineWebRows(options: { long?: boolean } = {}): FineWebRow[] {
  const all = options.long ? [...texts, longDocument()] : texts;
  return all.map((text, i) => ({
    text,
    id: uuid(i),
    dump: 'CC-MAIN-2024-10',
    url: `https://example.org/articles/${i + 1}`,
    date: `2024-02-${String(20 + (i % 8)).padStart(2, '0')}T0${i % 10}:15:00Z`,
    file_path: `s3://commoncrawl/crawl-data/CC-MAIN-2024-10/segments/1707947473347.0/warc/CC-MAIN-20240220211055-20240221001055-0000${i}.warc.gz`,
    language: 'en',
    language_score: Math.round((0.99 - i * 0.03) * 10000) / 10000,
    token_count: BigInt(Math.ceil(text.length / 4)),
  }));
}

export function lmsysRows(): LmsysRow[] {
  const conversations: [string, { content: string; role: string }[]][] = [
    [
      'vicuna-13b',
      [
        { content: 'What is the capital of Australia?', role: 'user' },
        { content: 'The capital of Australia is Canberra.', role: 'assistant' },
      ],
    ],
    [
      'koala-13b',
      [
        { content: 'Write a haiku about autumn.', role: 'user' },
        {
          content: 'Crisp leaves drift and fall,\nthe maple lets go of red,\ncold wind takes the rest.',
          role: 'assistant',
        },
        { content: 'Now one about winter.', role: 'user' },
        {
          content: 'Snow hushes the street,\nfootprints fill before morning,\nthe kettle whistles.',
          role: 'assistant',
        },
      ],
    ],
    [
      'alpaca-13b',
      [
        { content: '¿Cuántos días tiene un año bisiesto?', role: 'user' },
        { content: 'Un año bisiesto tiene 366 días.', role: 'assistant' },
      ],
    ],
    [
      'gpt-4',
      [
        { content: 'You are a helpful assistant.', role: 'system' },
        { content: 'Convert 5 miles to kilometres.', role: 'user' },
        { content: '5 miles is about 8.05 kilometres.', role: 'assistant' },
      ],
    ],
  ];
  return conversations.map(([model, conversation], i) => ({
    conversation_id: (0x3c5e7a9b1d2f4a6c8e0b2d4f6a8c0e2an + BigInt(i) * 0x1000200030004n).toString(16),
    model,
    conversation,
    turn: BigInt(conversation.filter((m) => m.role === 'user').length),
    language: model === 'alpaca-13b' ? 'Spanish' : 'English',
  }));
}
