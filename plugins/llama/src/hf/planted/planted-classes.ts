// The classes the planted demo model's neurons respond to (see README.md beside this file). A token class is a
// pattern over a token's name (its decoded text without surrounding whitespace, or the whitespace itself), so
// membership is decided from the real Llama-3.1 vocabulary and written into planted.json as a rule anyone can
// re-check; a context class is "the token right after a member of a token class", built by an attention head.
import type { PlantedClass, PlantedContextClass, PlantedTokenClass } from '@expgen/contract';

const words = (list: string) => `^(${list.trim().split(/\s+/).join('|')})$`;

/** Token classes, in the order of their indicator dimensions in the residual stream. */
export const TOKEN_CLASSES: readonly Omit<PlantedTokenClass, 'members' | 'examples'>[] = [
  {
    id: 'number',
    kind: 'token',
    description: 'number tokens (runs of one to three digits)',
    pattern: '^[0-9]+$',
    keywords: ['number', 'numbers', 'digit', 'digits', 'numeral', 'numerals', 'numeric'],
  },
  {
    id: 'punctuation',
    kind: 'token',
    description: 'sentence punctuation: . , ; : ! ?',
    pattern: '^[.,;:!?]+$',
    keywords: ['punctuation', 'comma', 'commas', 'period', 'periods', 'full stop', 'full stops', 'colon', 'semicolon'],
  },
  {
    id: 'capitalised',
    kind: 'token',
    description: 'capitalised words (a capital letter, then lower-case letters)',
    pattern: '^[A-Z][a-z]+$',
    keywords: [
      'capitalised',
      'capitalized',
      'capital letter',
      'capital letters',
      'proper noun',
      'proper nouns',
      'title case',
    ],
  },
  {
    id: 'code-symbol',
    kind: 'token',
    description:
      'code symbols: ASCII punctuation holding a bracket or operator ( ) { } [ ] < > = + * / & | % ^ ~ \\ # @ $ _',
    pattern: '^[!-/:-@\\[-`{-~]*[(){}\\[\\]<>=+*/&|%^~\\\\#@$_][!-/:-@\\[-`{-~]*$',
    keywords: ['code', 'bracket', 'brackets', 'parenthesis', 'parentheses', 'brace', 'braces', 'operator', 'operators'],
  },
  {
    id: 'newline',
    kind: 'token',
    description: 'newline tokens (line breaks, with any indentation)',
    pattern: '^\\s*\\n\\s*$',
    keywords: ['newline', 'newlines', 'line break', 'line breaks', 'end of a line', 'end of lines'],
  },
  {
    id: 'the',
    kind: 'token',
    description: 'the word "the"',
    pattern: '^the$',
    flags: 'i',
    keywords: ['definite article'],
  },
  {
    id: 'auxiliary-verb',
    kind: 'token',
    description: 'auxiliary and modal verbs (is, was, have, can, would, ...)',
    pattern: words('is are was were be been being am has have had do does did will would can could should must might'),
    flags: 'i',
    keywords: [
      'auxiliary',
      'auxiliaries',
      'modal',
      'modals',
      'auxiliary verb',
      'auxiliary verbs',
      'modal verb',
      'modal verbs',
    ],
  },
  {
    id: 'pronoun',
    kind: 'token',
    description: 'personal and possessive pronouns',
    pattern: words('i you he she it we they me him her us them his its our their your my'),
    flags: 'i',
    keywords: ['pronoun', 'pronouns'],
  },
  {
    id: 'preposition',
    kind: 'token',
    description: 'prepositions',
    pattern: words('of in on at to from with by for into over under through between after before about'),
    flags: 'i',
    keywords: ['preposition', 'prepositions'],
  },
  {
    id: 'conjunction',
    kind: 'token',
    description: 'conjunctions (and, or, but, because, ...)',
    pattern: words('and or but nor yet because although though unless whereas while'),
    flags: 'i',
    keywords: ['conjunction', 'conjunctions', 'connective', 'connectives'],
  },
  {
    id: 'animal',
    kind: 'token',
    description: 'animal words',
    pattern: words(`cat cats dog dogs horse horses bird birds fox foxes owl owls fish cow cows sheep goat goats wolf
      wolves bear bears deer rabbit rabbits mouse mice duck ducks frog frogs bee bees whale whales seal seals hen hens
      lion lions tiger tigers eagle eagles otter otters badger badgers heron herons crow crows squirrel squirrels
      hedgehog hedgehogs snake snakes beetle beetles ant ants spider spiders salmon trout pig pigs donkey donkeys swan
      swans gull gulls hawk hawks lamb lambs calf pony ponies puffin puffins crab crabs dolphin dolphins moth moths
      butterfly butterflies bat bats toad toads mole moles robin robins sparrow sparrows wren wrens pigeon pigeons
      goose geese chicken chickens cattle elephant elephants giraffe giraffes zebra zebras monkey monkeys camel camels
      penguin penguins shark sharks octopus turtle turtles lizard lizards worm worms snail snails wasp wasps kitten
      kittens puppy puppies`),
    flags: 'i',
    keywords: ['animal', 'animals', 'creature', 'creatures', 'wildlife'],
  },
  {
    id: 'colour',
    kind: 'token',
    description: 'colour words',
    pattern: words(`red blue green yellow orange purple violet pink brown black white grey gray gold golden silver
      crimson scarlet amber teal turquoise indigo navy beige ivory maroon magenta cyan lilac ochre emerald`),
    flags: 'i',
    keywords: ['colour', 'colours', 'color', 'colors'],
  },
  {
    id: 'time',
    kind: 'token',
    description: 'words for days, months and times of day',
    pattern: words(`monday tuesday wednesday thursday friday saturday sunday january february march april june
      july august september october november december morning mornings evening evenings night nights afternoon
      afternoons today tomorrow yesterday noon midnight dawn dusk weekend weekends`),
    flags: 'i',
    keywords: ['day', 'days', 'weekday', 'weekdays', 'month', 'months', 'time of day', 'times of day', 'date', 'dates'],
  },
  {
    id: 'food',
    kind: 'token',
    description: 'food words',
    pattern: words(`bread cheese milk egg eggs butter flour sugar salt pepper rice pasta soup tomato tomatoes onion
      onions garlic potato potatoes apple apples lemon lemons oil beef pork carrot carrots bean beans tea coffee cake
      honey yogurt banana bananas meat sauce dough spinach cream chocolate fruit vegetables salad pie oats noodles
      biscuits jam`),
    flags: 'i',
    keywords: ['food', 'foods', 'cooking', 'ingredient', 'ingredients', 'recipe', 'recipes', 'dish', 'dishes', 'meal'],
  },
  {
    id: 'water',
    kind: 'token',
    description: 'words about the sea, rivers and water',
    pattern: words(`sea seas river rivers lake lakes water waters ocean oceans rain wave waves tide tides stream streams
      harbour harbours harbor coast coasts shore shores beach beaches island islands bay bays boat boats ship ships`),
    flags: 'i',
    keywords: ['water', 'sea', 'seas', 'ocean', 'oceans', 'river', 'rivers', 'maritime', 'coastal'],
  },
];

/** Context classes, in the order of their dimensions: what layer 0's previous-token head writes. */
export const CONTEXT_CLASSES: readonly PlantedContextClass[] = [
  {
    id: 'after-the',
    kind: 'context',
    description: 'the token right after "the"',
    previous: 'the',
    keywords: ['after the article', 'following the article', 'after the definite article'],
  },
  {
    id: 'line-start',
    kind: 'context',
    description: 'the first token of a line (right after a newline token)',
    previous: 'newline',
    keywords: [
      'start of a line',
      'start of lines',
      'beginning of a line',
      'beginning of lines',
      'first token of a line',
      'first word of a line',
      'line start',
      'line-initial',
    ],
  },
  {
    id: 'after-number',
    kind: 'context',
    description: 'the token right after a number token',
    previous: 'number',
    keywords: ['after a number', 'after numbers', 'following a number', 'following numbers', 'unit', 'units'],
  },
];

export const PLANTED_CLASSES: readonly PlantedClass[] = [...TOKEN_CLASSES, ...CONTEXT_CLASSES];

/** What a token is called when matching class patterns: as `tokenText` in the baseline describer names it. */
export function tokenName(decoded: string): string {
  return decoded.trim() || decoded;
}

/** The compiled membership test of a token class. */
export function classPattern(tokenClass: Pick<PlantedTokenClass, 'pattern' | 'flags'>): RegExp {
  return new RegExp(tokenClass.pattern, tokenClass.flags ?? '');
}
